import { findUsersByIds } from '../accounts/queries.js';
import { presentMessages } from '../messages/present.js';
import type { AppContext } from '../platform/context.js';
import { toIso } from '../http/schemas.js';
import type { ConversationRow, MessageRow, UserRow } from '../storage/schema.js';
import { findHighlights } from './highlight.js';
import { findConversationsByIds, findFilesByIds, findMessagesByIds } from './queries.js';
import type { SearchOutcome } from './run-search.js';
import type { FileSearchResult, MessageSearchResult } from './schemas.js';

/** Characters of a thread root's text shown beside a reply. */
const THREAD_ROOT_PREVIEW_CHARS = 300;

function presentConversation(row: ConversationRow) {
  return { id: row.id, team_id: row.team_id, kind: row.kind, name: row.name };
}

function presentUser(row: UserRow | undefined) {
  return row === undefined ? null : { id: row.id, username: row.username, display_name: row.display_name };
}

function byId<T extends { id: string }>(rows: readonly T[]): Map<string, T> {
  return new Map(rows.map((row) => [row.id, row]));
}

/**
 * Loads and presents the messages of a page of hits, in hit order. The
 * transaction that deletes a message also removes its document, so every
 * hit has a live message. A hit without one is skipped and logged.
 */
export async function presentMessageHits(ctx: AppContext, outcome: SearchOutcome): Promise<MessageSearchResult[]> {
  const db = ctx.storage.db;
  const ids = outcome.hits.flatMap((hit) => (hit.messageId === null ? [] : [hit.messageId]));
  const messages = byId(await findMessagesByIds(db, ids));
  const rootIds = [...messages.values()].flatMap((message) => (message.root_id === null ? [] : [message.root_id]));
  const roots = byId(await findMessagesByIds(db, [...new Set(rootIds)]));
  const conversations = byId(await findConversationsByIds(db, [...new Set([...messages.values()].map((message) => message.conversation_id))]));
  const users = byId(await findUsersByIds(db, [...new Set([...messages.values()].map((message) => message.author_id))]));

  const live: Array<{ row: MessageRow; score: number | null }> = [];
  for (const hit of outcome.hits) {
    const row = hit.messageId === null ? undefined : messages.get(hit.messageId);
    if (row === undefined || row.deleted_at !== null || !conversations.has(row.conversation_id)) {
      ctx.logger.warn({ component: 'search', messageId: hit.messageId, docId: hit.docId }, 'search hit without a live message skipped');
      continue;
    }
    live.push({ row, score: hit.score });
  }

  const views = await presentMessages(db, live.map((item) => item.row));
  return live.map(({ row, score }, index) => {
    const root = row.root_id === null ? undefined : roots.get(row.root_id);
    const threadRootId = row.root_id ?? (Number(row.reply_count) > 0 ? row.id : null);
    return {
      message: views[index]!,
      conversation: presentConversation(conversations.get(row.conversation_id)!),
      author: presentUser(users.get(row.author_id)),
      highlights: findHighlights(row.text, outcome.terms),
      score,
      thread_root:
        root === undefined
          ? null
          : {
              id: root.id,
              author_id: root.author_id,
              text: root.deleted_at === null ? Array.from(root.text).slice(0, THREAD_ROOT_PREVIEW_CHARS).join('') : '',
              reply_count: Number(root.reply_count),
              deleted: root.deleted_at !== null,
            },
      history_path: `/api/conversations/${row.conversation_id}/messages?around=${row.id}`,
      thread_path: threadRootId === null ? null : `/api/messages/${threadRootId}/thread`,
    };
  });
}

/** Loads and presents the files of a page of hits, in hit order, skipping any that is no longer shared. */
export async function presentFileHits(ctx: AppContext, outcome: SearchOutcome): Promise<FileSearchResult[]> {
  const db = ctx.storage.db;
  const files = byId(await findFilesByIds(db, outcome.hits.flatMap((hit) => (hit.fileId === null ? [] : [hit.fileId]))));
  const conversations = byId(await findConversationsByIds(db, [...new Set([...files.values()].map((file) => file.conversation_id))]));
  const users = byId(await findUsersByIds(db, [...new Set([...files.values()].map((file) => file.uploader_id))]));

  const results: FileSearchResult[] = [];
  for (const hit of outcome.hits) {
    const file = hit.fileId === null ? undefined : files.get(hit.fileId);
    const conversation = file === undefined ? undefined : conversations.get(file.conversation_id);
    if (file === undefined || file.deleted_at !== null || file.message_id === null || conversation === undefined) continue;
    results.push({
      file: {
        id: file.id,
        name: file.name,
        mime_type: file.mime_type,
        size: Number(file.size),
        created_at: toIso(file.created_at),
        uploader_id: file.uploader_id,
        message_id: file.message_id,
        conversation_id: file.conversation_id,
      },
      conversation: presentConversation(conversation),
      uploader: presentUser(users.get(file.uploader_id)),
      highlights: findHighlights(file.name, outcome.terms),
      score: hit.score,
      history_path: `/api/conversations/${file.conversation_id}/messages?around=${file.message_id}`,
    });
  }
  return results;
}
