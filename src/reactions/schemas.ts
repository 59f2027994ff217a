import { Type, type Static } from '@sinclair/typebox';
import { Id, Strict } from '../http/schemas.js';
import type { ReactionRow } from '../storage/schema.js';
import { findEmoji } from './emoji.js';

export const ReactionBody = Strict({
  emoji: Type.String({ minLength: 1, maxLength: 64, description: 'A Unicode emoji, or a shortcode such as ":+1:" or "thumbsup"' }),
});
export type ReactionBody = Static<typeof ReactionBody>;

export const ReactionParams = Strict({ messageId: Id, emoji: Type.String({ minLength: 1, maxLength: 64 }) });

export const Reaction = Type.Object({
  emoji: Type.String({ description: 'Fully-qualified Unicode emoji' }),
  shortcode: Type.String(),
  count: Type.Integer(),
  user_ids: Type.Array(Id, { description: 'In the order they reacted' }),
});
export type Reaction = Static<typeof Reaction>;

/** Orders reaction groups by emoji, comparing UTF-16 code units, so every client orders them alike. */
export function compareEmoji(a: string, b: string): number {
  if (a < b) return -1;
  if (a > b) return 1;
  return 0;
}

/** Groups reaction rows (in seq order) by message and emoji. */
export function groupReactions(rows: readonly ReactionRow[]): Map<string, Reaction[]> {
  const byMessage = new Map<string, Map<string, Reaction>>();
  for (const row of rows) {
    const groups = byMessage.get(row.message_id) ?? new Map<string, Reaction>();
    byMessage.set(row.message_id, groups);
    let group = groups.get(row.emoji);
    if (group === undefined) {
      group = { emoji: row.emoji, shortcode: findEmoji(row.emoji)?.shortcode ?? '', count: 0, user_ids: [] };
      groups.set(row.emoji, group);
    }
    group.user_ids.push(row.user_id);
    group.count = group.user_ids.length;
  }
  const result = new Map<string, Reaction[]>();
  for (const [messageId, groups] of byMessage) {
    result.set(messageId, [...groups.values()].sort((a, b) => compareEmoji(a.emoji, b.emoji)));
  }
  return result;
}
