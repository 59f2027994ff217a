import type { MessageRow } from '../storage/schema.js';
import type { BroadcastKind, LinkToken } from './parse.js';

export type MentionEntity =
  | { type: 'user'; user_id: string; username: string; offset: number; length: number }
  | { type: BroadcastKind; offset: number; length: number };

/** Mention and link entities of a message view; docs/formatting.md describes them. */
export interface MessageEntities {
  mentions: MentionEntity[];
  links: LinkToken[];
}

/** Reads the stored entities of a message row; a deleted message has none. */
export function entitiesOf(row: Pick<MessageRow, 'entities' | 'deleted_at'>): MessageEntities {
  if (row.deleted_at !== null || row.entities === undefined) return { mentions: [], links: [] };
  return JSON.parse(row.entities) as MessageEntities;
}
