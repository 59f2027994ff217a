/**
 * Real-time events. Every state change appends events to one or more streams
 * inside the transaction that makes it; each stream numbers its events 1, 2, 3...
 *
 * - `u:<userId>`: what concerns one user only (their teams, memberships, sessions,
 *   read positions, followed threads, saved items).
 * - `t:<teamId>`: the team's member list, settings and directory of public channels.
 * - `c:<conversationId>`: one channel or direct message: its messages, reactions, pins and members.
 */
export type StreamId = string;

export const userStream = (userId: string): StreamId => `u:${userId}`;
export const teamStream = (teamId: string): StreamId => `t:${teamId}`;
export const conversationStream = (conversationId: string): StreamId => `c:${conversationId}`;

/** Every event type, with the stream kind that carries it. docs/realtime.md describes each. */
export const EVENT_TYPES = [
  'user.updated',
  'session.revoked',
  'team.joined',
  'team.left',
  'team.updated',
  'conversation.joined',
  'conversation.left',
  'team.member_joined',
  'team.member_left',
  'team.member_updated',
  'team.user_updated',
  'channel.created',
  'channel.updated',
  'conversation.updated',
  'member.joined',
  'member.left',
  'message.posted',
  'message.edited',
  'message.deleted',
  'thread.updated',
  'reaction.added',
  'reaction.removed',
  'message.pinned',
  'message.unpinned',
  'conversation.read',
  'thread.read',
  'thread.followed',
  'thread.unfollowed',
  'message.saved',
  'message.unsaved',
  'mention.not_in_channel',
  'team.settings_updated',
  'file.updated',
  'file.deleted',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** One stored, sequenced event as the gateway delivers it. */
export interface StreamEvent {
  stream: StreamId;
  seq: number;
  type: EventType;
  /** Unix milliseconds of the commit that made it. */
  at: number;
  data: Record<string, unknown>;
}

/** JSON text of event payloads, by payload object, as the writer stored it (see EventWriter). */
const encodedPayloads = new WeakMap<object, string>();

/**
 * Records `json` as the encoding of an event payload, so that its frame reuses
 * the text stored in `events` rather than encoding the payload again. The
 * payload must not change afterwards. A copy of it, such as a redacted
 * replay, is a new object and is encoded anew.
 */
export function keepPayloadEncoding(data: Record<string, unknown>, json: string): void {
  encodedPayloads.set(data, json);
}

/**
 * Encodes the frame once as UTF-8 bytes, so fan-out to many sockets costs one
 * encoding, not one per recipient. The keys are in the order a
 * JSON.stringify of { type, stream, seq, event, at, data } gives.
 */
export function encodeEventFrame(event: StreamEvent): Buffer {
  const data = encodedPayloads.get(event.data) ?? JSON.stringify(event.data);
  return Buffer.from(
    `{"type":"event","stream":${JSON.stringify(event.stream)},"seq":${event.seq},"event":${JSON.stringify(event.type)},"at":${event.at},"data":${data}}`,
  );
}
