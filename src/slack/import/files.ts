import { buildFileRow, insertStoredFile, removeBlobs } from '../../files/actions.js';
import { cleanFileName, cleanMediaType } from '../../files/names.js';
import type { StoredBlob } from '../../files/vault.js';
import { newId } from '../../platform/ids.js';
import type { Tx } from '../../storage/database.js';
import type { MessageRow } from '../../storage/schema.js';
import type { SlackFile } from './export-types.js';
import { insertMappedId } from './queries.js';
import { reportProblem } from './report.js';
import type { ImportState, MappedConversation } from './state.js';

/** One file of a message: its Slack entry and, when the export contains its bytes, the stored blob. */
export interface FileWork {
  slack: SlackFile;
  stored: StoredBlob | undefined;
}

/**
 * Returns the path of a file's bytes in an export. Slack's own exports contain
 * none, and tools that download them (such as slackdump) write `__uploads/<file id>/<name>`.
 */
export function filePathIn(file: SlackFile): string | undefined {
  if (typeof file.id !== 'string' || typeof file.name !== 'string') return undefined;
  return `__uploads/${file.id}/${file.name}`;
}

/**
 * Stores the bytes of a message's files that the export holds, or that the
 * run's downloader fetches from Slack, before the batch's transaction,
 * because blob writes must not hold the database's write lock. A blob whose
 * transaction then fails is removed by `recordFiles`'s caller or, at worst, by
 * the file sweep, which deletes unreferenced blobs.
 */
export async function storeFileBytes(state: ImportState, conversation: MappedConversation, files: SlackFile[], path: string): Promise<FileWork[]> {
  const work: FileWork[] = [];
  for (const file of files) {
    const location = filePathIn(file);
    const stream = location === undefined ? undefined : await state.source.openStream(location);
    if (stream === undefined) {
      work.push({ slack: file, stored: await downloadFileBytes(state, conversation, file, path) });
      continue;
    }
    try {
      const stored = await state.ctx.files.vault.write(stream, { maxBytes: state.ctx.config.files.maxFileBytes });
      work.push({ slack: file, stored });
    } catch (error) {
      reportProblem(state.report, { kind: 'files', path, reason: `file ${String(file.id)} of ${conversation.folder} could not be stored: ${(error as Error).message}` }, { skipped: false });
      work.push({ slack: file, stored: undefined });
    }
  }
  return work;
}

/**
 * Fetches and stores a file's bytes from Slack when the run has a token and
 * the entry a URL. A failed download is reported, and the file becomes a
 * placeholder like one without a token.
 */
async function downloadFileBytes(state: ImportState, conversation: MappedConversation, file: SlackFile, path: string): Promise<StoredBlob | undefined> {
  const downloader = state.downloader;
  const url = downloader?.urlOf(file);
  if (downloader === undefined || url === undefined || downloader.tokenRejected) return undefined;

  const problem = (reason: string) => reportProblem(state.report, { kind: 'files', path, reason: `file ${String(file.id)} of ${conversation.folder} was not downloaded: ${reason}` }, { skipped: false });
  let body;
  try {
    body = await downloader.open(url, file.mimetype);
  } catch (error) {
    problem((error as Error).message);
    return undefined;
  }
  try {
    const stored = await state.ctx.files.vault.write(body, { maxBytes: state.ctx.config.files.maxFileBytes });
    state.report.files_downloaded += 1;
    return stored;
  } catch (error) {
    body.destroy();
    problem((error as Error).message);
    return undefined;
  }
}

/** Inserts the file rows of a batch's messages, attached to them, and counts files and placeholders. */
export async function recordFiles(state: ImportState, tx: Tx, conversation: MappedConversation, items: Array<{ files: FileWork[]; message: MessageRow }>): Promise<void> {
  for (const { files, message } of items) {
    for (const { slack, stored } of files) {
      if (stored === undefined) {
        state.report.file_placeholders += 1;
        continue;
      }
      const id = newId();
      const row = buildFileRow(stored, {
        id,
        team_id: state.team.id,
        conversation_id: conversation.id,
        message_id: message.id,
        uploader_id: message.author_id,
        name: cleanFileName(slack.name ?? slack.title ?? ''),
        mime_type: cleanMediaType(slack.mimetype),
        created_at: message.created_at,
      });
      await insertStoredFile(state.ctx, tx, row);
      if (typeof slack.id === 'string') await insertMappedId(tx, { team_id: state.team.id, kind: 'file', slack_id: slack.id, local_id: id });
      state.report.counts.files.imported += 1;
    }
  }
}

/** Removes the blobs a failed batch stored. */
export async function discardStoredBytes(state: ImportState, files: FileWork[]): Promise<void> {
  const blobs = files.flatMap((file) => (file.stored === undefined ? [] : [{ blobKey: file.stored.blobKey, thumbnailKey: null }]));
  if (blobs.length > 0) await removeBlobs(state.ctx, blobs);
}
