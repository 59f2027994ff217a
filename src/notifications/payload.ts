import type { ConversationKind, ConversationRow, MessageRow, UserRow } from '../storage/schema.js';
import type { Reason } from './decide.js';

/** Characters of message text in a notification, before the push payload limit may cut it further. */
const PREVIEW_CHARS = 200;
/**
 * Bytes of JSON a push payload may use. RFC 8291 leaves 4,078 bytes of
 * plaintext in one 4,096-byte record, and some push services accept less,
 * so the payload stays well below.
 */
export const MAX_PUSH_PAYLOAD_BYTES = 3000;

/** The content of a notification, as the socket `notification` frame and the push payload carry it. */
export interface NotificationPayload {
  /** The message id: a later notification of the same message replaces the earlier one. */
  id: string;
  reason: Reason;
  team_id: string;
  conversation_id: string;
  conversation_kind: ConversationKind;
  /** Channel name; null for direct and group messages. */
  conversation_name: string | null;
  message_id: string;
  thread_root_id: string | null;
  author: { id: string; username: string; display_name: string };
  /** The start of the message text, as written. */
  preview: string;
  created_at: string;
  /** Unread count for the app icon (push only); see docs/notifications.md. */
  badge?: number;
}

export function buildPayload(message: MessageRow, conversation: ConversationRow, author: UserRow, reason: Reason): NotificationPayload {
  return {
    id: message.id,
    reason,
    team_id: conversation.team_id,
    conversation_id: conversation.id,
    conversation_kind: conversation.kind,
    conversation_name: conversation.name,
    message_id: message.id,
    thread_root_id: message.root_id,
    author: { id: author.id, username: author.username, display_name: author.display_name },
    preview: cutText(message.text, PREVIEW_CHARS),
    created_at: new Date(Number(message.created_at)).toISOString(),
  };
}

/** Shortens the preview until the payload's JSON fits the push limit. */
export function fitPushPayload(payload: NotificationPayload): NotificationPayload {
  let fitted = payload;
  let chars = [...payload.preview].length;
  while (Buffer.byteLength(JSON.stringify(fitted)) > MAX_PUSH_PAYLOAD_BYTES && chars > 0) {
    chars = Math.floor(chars / 2);
    fitted = { ...payload, preview: cutText(payload.preview, chars) };
  }
  return fitted;
}

/** Cuts text to at most `max` code points, marking a cut with an ellipsis. */
function cutText(text: string, max: number): string {
  const points = [...text];
  if (points.length <= max) return text;
  return `${points.slice(0, Math.max(0, max - 1)).join('')}…`;
}
