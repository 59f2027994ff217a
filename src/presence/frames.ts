import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Id } from '../http/schemas.js';

/** Most user ids one presence.subscribe or presence.unsubscribe frame may name. */
export const MAX_USER_IDS_PER_FRAME = 500;

const FrameId = Type.Union([Type.String({ maxLength: 64 }), Type.Integer()]);
const UserIds = Type.Array(Id, { minItems: 1, maxItems: MAX_USER_IDS_PER_FRAME });

const PresenceSubscribeFrame = Type.Object(
  { type: Type.Literal('presence.subscribe'), id: Type.Optional(FrameId), user_ids: UserIds },
  { additionalProperties: false },
);
const PresenceUnsubscribeFrame = Type.Object(
  { type: Type.Literal('presence.unsubscribe'), id: Type.Optional(FrameId), user_ids: UserIds },
  { additionalProperties: false },
);
const ActivityFrame = Type.Object({ type: Type.Literal('activity'), id: Type.Optional(FrameId) }, { additionalProperties: false });
const TypingFrame = Type.Object(
  { type: Type.Literal('typing'), id: Type.Optional(FrameId), conversation_id: Id, thread_root_id: Type.Optional(Id) },
  { additionalProperties: false },
);

export type PresenceSubscribeFrame = Static<typeof PresenceSubscribeFrame>;
export type PresenceUnsubscribeFrame = Static<typeof PresenceUnsubscribeFrame>;
export type ActivityFrame = Static<typeof ActivityFrame>;
export type TypingFrame = Static<typeof TypingFrame>;
export type PresenceFrame = PresenceSubscribeFrame | PresenceUnsubscribeFrame | ActivityFrame | TypingFrame;

const SCHEMAS: Record<PresenceFrame['type'], ReturnType<typeof TypeCompiler.Compile<TSchema>>> = {
  'presence.subscribe': TypeCompiler.Compile(PresenceSubscribeFrame),
  'presence.unsubscribe': TypeCompiler.Compile(PresenceUnsubscribeFrame),
  activity: TypeCompiler.Compile(ActivityFrame),
  typing: TypeCompiler.Compile(TypingFrame),
};

/** The frame types this module parses. */
export const PRESENCE_FRAME_TYPES = Object.keys(SCHEMAS) as Array<PresenceFrame['type']>;

export function isPresenceFrameType(type: unknown): type is PresenceFrame['type'] {
  return typeof type === 'string' && Object.hasOwn(SCHEMAS, type);
}

/** Checks a presence, activity or typing frame; bad input returns an error naming the field. */
export function parsePresenceFrame(
  value: Record<string, unknown> & { type: PresenceFrame['type'] },
): { frame: PresenceFrame } | { error: { code: string; message: string; field: string; id?: string | number } } {
  const schema = SCHEMAS[value.type];
  const candidate: unknown = value;
  if (schema.Check(candidate)) return { frame: candidate as PresenceFrame };

  const issue = schema.Errors(value).First();
  const field = issue?.path.replace(/^\//, '') || 'frame';
  const id = value.id;
  const validId = (typeof id === 'string' && id.length <= 64) || Number.isSafeInteger(id);
  return {
    error: { code: 'VALIDATION_FAILED', message: `${field} ${issue?.message ?? 'is invalid'}`, field, ...(validId && { id: id as string | number }) },
  };
}
