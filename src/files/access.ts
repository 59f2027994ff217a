import { accessConversation, type ConversationAccess } from '../conversations/access.js';
import { AppError } from '../platform/errors.js';
import type { Db, Tx } from '../storage/database.js';
import type { FileRow } from '../storage/schema.js';
import { findFile } from './queries.js';

export interface FileAccess {
  file: FileRow;
  access: ConversationAccess;
}

/**
 * Loads a file the user may read, checking access to its conversation now.
 * A file attached to a message is readable by everyone who can read the
 * conversation; an upload not yet attached only by its uploader, while they
 * can still read the conversation. Any other case raises FILE_NOT_FOUND,
 * exactly as a missing or deleted file does.
 */
export async function accessFile(db: Db | Tx, fileId: string, userId: string): Promise<FileAccess> {
  const notFound = () => new AppError('FILE_NOT_FOUND', 'File not found');
  const file = await findFile(db, fileId);
  if (file === undefined) throw notFound();
  if (file.message_id === null && file.uploader_id !== userId) throw notFound();

  try {
    const access = await accessConversation(db, file.conversation_id, userId, 'read');
    return { file, access };
  } catch (error) {
    if (error instanceof AppError && error.code === 'CONVERSATION_NOT_FOUND') throw notFound();
    throw error;
  }
}
