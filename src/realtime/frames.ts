import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Id } from '../http/schemas.js';
import { PostMessageBody } from '../messages/schemas.js';
import { isPresenceFrameType, parsePresenceFrame, PRESENCE_FRAME_TYPES, type PresenceFrame } from '../presence/frames.js';

/** Frames a client may send. docs/realtime.md describes them. */
export interface HelloFrame {
  type: 'hello';
  /** Last seq the client saw per stream; streams it omits start at their current head. */
  positions: Record<string, number>;
}

export interface PingFrame {
  type: 'ping';
  id?: string | number;
}

/** Posts a message over the socket; the server replies with an `ack` or an `error` carrying the same id. */
export interface PostFrame {
  type: 'post';
  id: string | number;
  conversation_id: string;
  body: PostMessageBody;
}

/** Presence subscriptions, activity and typing: see src/presence/frames.ts. */
export type ClientFrame = HelloFrame | PingFrame | PostFrame | PresenceFrame;

const PostFrameSchema = TypeCompiler.Compile(
  Type.Object(
    {
      type: Type.Literal('post'),
      id: Type.Union([Type.String({ maxLength: 64 }), Type.Integer()]),
      conversation_id: Id,
      ...PostMessageBody.properties,
    },
    { additionalProperties: false },
  ),
);

interface FrameError {
  code: string;
  message: string;
  field?: string;
  /** The rejected frame's id, so the client can match the error to its request. */
  id?: string | number;
}

/** Most streams one hello may name: a user's own, their teams and their conversations. */
export const MAX_HELLO_POSITIONS = 20_000;

const STREAM_ID = /^[utc]:[0-9a-f-]{36}$/;

function reject(code: string, message: string, field?: string): { error: FrameError } {
  return { error: { code, message, field } };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses and checks one client frame; bad input returns an error naming the field. */
export function parseClientFrame(text: string, isBinary: boolean): { frame: ClientFrame } | { error: FrameError } {
  if (isBinary) return reject('VALIDATION_FAILED', 'Frames must be JSON text', 'frame');

  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return reject('INVALID_JSON', 'The frame is not valid JSON', 'frame');
  }
  if (!isRecord(value)) return reject('VALIDATION_FAILED', 'A frame must be a JSON object', 'frame');

  switch (value.type) {
    case 'ping': {
      const id = value.id;
      if (id !== undefined && typeof id !== 'string' && typeof id !== 'number') {
        return reject('VALIDATION_FAILED', 'id must be a string or number', 'id');
      }
      return { frame: { type: 'ping', ...(id !== undefined && { id }) } };
    }
    case 'hello':
      return parseHello(value);
    case 'post':
      return parsePost(value);
    default:
      if (isPresenceFrameType(value.type)) return parsePresenceFrame(value as Record<string, unknown> & { type: PresenceFrame['type'] });
      return reject('VALIDATION_FAILED', `type must be one of ${['hello', 'ping', 'post', ...PRESENCE_FRAME_TYPES].join(', ')}`, 'type');
  }
}

function parseHello(value: Record<string, unknown>): { frame: HelloFrame } | { error: FrameError } {
  const unknown = Object.keys(value).find((key) => key !== 'type' && key !== 'positions');
  if (unknown !== undefined) {
    // An empty or huge key still gets a field a client can show.
    const field = unknown === '' ? 'frame' : unknown.slice(0, 80);
    return reject('VALIDATION_FAILED', `"${field}" is not a known field`, field);
  }

  const raw = value.positions ?? {};
  if (!isRecord(raw)) return reject('VALIDATION_FAILED', 'positions must be an object of stream id to seq', 'positions');

  const entries = Object.entries(raw);
  if (entries.length > MAX_HELLO_POSITIONS) {
    return reject('VALIDATION_FAILED', `positions may name at most ${MAX_HELLO_POSITIONS} streams`, 'positions');
  }
  const positions: Record<string, number> = Object.create(null) as Record<string, number>;
  for (const [stream, seq] of entries) {
    if (!STREAM_ID.test(stream)) return reject('VALIDATION_FAILED', `"${stream.slice(0, 80)}" is not a stream id`, `positions/${stream.slice(0, 80)}`);
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) {
      return reject('VALIDATION_FAILED', 'Each position must be a non-negative integer', `positions/${stream}`);
    }
    positions[stream] = seq;
  }
  return { frame: { type: 'hello', positions } };
}

function parsePost(value: Record<string, unknown>): { frame: PostFrame } | { error: FrameError } {
  if (!PostFrameSchema.Check(value)) {
    const issue = PostFrameSchema.Errors(value).First();
    const field = issue?.path.replace(/^\//, '') || 'frame';
    const rejection = reject('VALIDATION_FAILED', `${field} ${issue?.message ?? 'is invalid'}`, field);
    const id = value.id;
    if ((typeof id === 'string' && id.length <= 64) || Number.isSafeInteger(id)) rejection.error.id = id as string | number;
    return rejection;
  }
  const { type: _type, id, conversation_id, ...body } = value as unknown as { type: 'post'; id: string | number; conversation_id: string } & PostMessageBody;
  return { frame: { type: 'post', id, conversation_id, body } };
}
