import type { CompiledQuery } from 'kysely';
import type { Tx } from '../storage/database.js';
import type { StorageDialect } from '../storage/dialects/dialect.js';
import type { DeferredWrites } from '../storage/deferred-writes.js';
import type { FileRow, MessageRow } from '../storage/schema.js';
import { entitiesOf } from '../mentions/entities.js';
import { analyseText, type Token } from './analyzer.js';
import { searchIndexFor, type SearchDocument } from './search-index.js';

/**
 * Keeps the search index in step with messages and files. Every function runs
 * inside the caller's transaction, so the index commits or rolls back with the
 * change itself and never disagrees with the committed messages.
 *
 * Callers:
 * - posting and editing a message call `indexMessage` after writing the row;
 * - deleting one calls `unindexMessage` (through `forgetMessageExtras`);
 * - the file code calls `indexFile` when it stores or renames a file row and
 *   `unindexFile` when it deletes one.
 */

/** The columns of a message row that its index document is built from; a new message has no seq yet. */
export type IndexedMessage = Omit<MessageRow, 'seq'>;

/** The part of the context the index functions need: the storage engine's name. */
export interface IndexContext {
  storage: { dialect: Pick<StorageDialect, 'name'> };
}

/**
 * Indexes a live message's current text, replacing what was indexed before.
 * Callers that have loaded the conversation pass its team, which saves a query.
 */
export async function indexMessage(ctx: IndexContext, tx: Tx, message: MessageRow, teamId?: string): Promise<void> {
  if (message.deleted_at !== null) {
    await unindexMessage(tx, message.id);
    return;
  }
  const team = teamId ?? (await tx.selectFrom('conversations').select('team_id').where('id', '=', message.conversation_id).executeTakeFirstOrThrow()).team_id;
  await searchIndexFor(ctx.storage.dialect).writeDocument(tx, messageDocument(message, team));
}

/**
 * Indexes a message just posted, which has no document yet; that saves the
 * lookup of an existing one. It may run before the message row is inserted,
 * in the same transaction, because the index refers to the row only by id.
 * Where the engine writes a document with one statement (PostgreSQL), that
 * statement is returned instead, for the caller to run together with its own
 * inserts (StorageDialect.executeTogether), which saves a round trip. Where it
 * takes several (SQLite), part of them may be left to `deferred`.
 */
export async function indexNewMessage(
  ctx: IndexContext,
  tx: Tx,
  message: IndexedMessage,
  teamId: string,
  deferred?: DeferredWrites,
): Promise<CompiledQuery[]> {
  const index = searchIndexFor(ctx.storage.dialect);
  const document = messageDocument(message, teamId);
  const statement = index.newDocumentStatement(tx, document);
  if (statement !== undefined) return [statement];
  await index.writeDocument(tx, document, { isNew: true, deferred });
  return [];
}

/** Indexes new messages of one team in bulk, for imports; none of them may be indexed yet. */
export async function indexNewMessages(ctx: { storage: { dialect: StorageDialect } }, tx: Tx, messages: readonly MessageRow[], teamId: string): Promise<void> {
  const live = messages.filter((message) => message.deleted_at === null);
  await searchIndexFor(ctx.storage.dialect).insertDocuments(tx, ctx.storage.dialect, live.map((message) => messageDocument(message, teamId)));
}

/** Builds the index document of a message in a conversation of `teamId`. */
export function messageDocument(message: IndexedMessage, teamId: string): SearchDocument {
  return {
    messageId: message.id,
    fileId: null,
    teamId,
    conversationId: message.conversation_id,
    authorId: message.author_id,
    createdAt: Number(message.created_at),
    hasLink: entitiesOf(message).links.length > 0,
    tokens: analyseText(message.text),
  };
}

/** Removes a message from the index; works on both engines without the context. */
export async function unindexMessage(tx: Tx, messageId: string): Promise<void> {
  await tx.deleteFrom('search_documents').where('message_id', '=', messageId).execute();
}

/**
 * Indexes a file's name and type. Searches show a file only while a live
 * message in its conversation shares it and its row is not deleted, so
 * calling this at upload, before a message claims the file, is safe.
 */
export async function indexFile(ctx: IndexContext, tx: Tx, file: FileRow): Promise<void> {
  if (file.deleted_at !== null) {
    await unindexFile(tx, file.id);
    return;
  }
  await searchIndexFor(ctx.storage.dialect).writeDocument(tx, fileDocument(file));
}

/** Builds the index document of a file: the words of its name, then of its type. */
export function fileDocument(file: FileRow): SearchDocument {
  return {
    messageId: null,
    fileId: file.id,
    teamId: file.team_id,
    conversationId: file.conversation_id,
    authorId: file.uploader_id,
    createdAt: Number(file.created_at),
    hasLink: false,
    tokens: [...analyseText(file.name), ...typeTokens(file.mime_type)],
  };
}

/** Removes a file from the index. */
export async function unindexFile(tx: Tx, fileId: string): Promise<void> {
  await tx.deleteFrom('search_documents').where('file_id', '=', fileId).execute();
}

/** Words a file type is found by: the parts of its media type ("application", "pdf"), and a family such as "image". */
function typeTokens(mimeType: string): Token[] {
  const family = FILE_FAMILIES.find(([pattern]) => pattern.test(mimeType))?.[1];
  const text = family === undefined ? mimeType : `${mimeType} ${family}`;
  // Offsets point past the name, so highlighting of the name never marks them.
  return analyseText(text).map((token) => ({ ...token, start: -1, end: -1 }));
}

const FILE_FAMILIES: Array<[RegExp, string]> = [
  [/^image\//, 'image'],
  [/^video\//, 'video'],
  [/^audio\//, 'audio'],
  [/^text\//, 'text'],
  [/(zip|tar|gzip|x-7z|x-rar|x-bzip)/, 'archive'],
  [/(spreadsheet|excel|csv)/, 'spreadsheet'],
  [/(presentation|powerpoint)/, 'presentation'],
  [/(msword|wordprocessing|opendocument\.text|rtf)/, 'document'],
];
