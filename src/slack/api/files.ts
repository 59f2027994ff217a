import type { Readable } from 'node:stream';
import { cleanFileName, OCTET_STREAM } from '../../files/names.js';
import { recordStoredFile, removeBlobs } from '../../files/actions.js';
import type { StoredBlob } from '../../files/vault.js';
import { openDirectMessage } from '../../conversations/actions.js';
import { postMessage } from '../../messages/actions.js';
import type { AppContext } from '../../platform/context.js';
import { newId } from '../../platform/ids.js';
import type { BotAuth } from './bots.js';
import { resolveSlackNames } from './payload.js';
import { slackToMarkdown } from '../markup.js';
import { optionalJson, optionalString, requireString, SlackApiError } from './args.js';
import { accessChannelArg, requireMessageByTs, type SlackMethod } from './call.js';
import { presentSlackFile } from './present.js';
import { botOrigin } from './chat.js';

/** Path of the upload URL that files.getUploadURLExternal hands out, followed by the upload id. */
export const SLACK_UPLOAD_PATH = '/api/slack/upload';

/** Media types by extension, for uploads, which Slack's flow sends without one. */
const MEDIA_TYPES: Record<string, string> = {
  txt: 'text/plain',
  md: 'text/markdown',
  csv: 'text/csv',
  json: 'application/json',
  pdf: 'application/pdf',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  zip: 'application/zip',
};

function mediaTypeOf(name: string): string {
  const extension = name.slice(name.lastIndexOf('.') + 1).toLowerCase();
  return MEDIA_TYPES[extension] ?? OCTET_STREAM;
}

/**
 * files.getUploadURLExternal: announces a file and returns the URL to send its
 * bytes to. The announcement lasts as long as the file sweep spares an
 * unattached blob (CHATTERBOX_FILE_ORPHAN_GRACE_MS), because the uploaded
 * bytes wait as such a blob until files.completeUploadExternal.
 */
const getUploadUrlMethod: SlackMethod = async (call) => {
  const name = cleanFileName(requireString(call.args, 'filename', 'invalid_arguments'));
  const length = Number(requireString(call.args, 'length', 'invalid_arguments'));
  if (!Number.isSafeInteger(length) || length < 1) throw new SlackApiError('invalid_arguments', 'length');
  if (length > call.ctx.config.files.maxFileBytes) throw new SlackApiError('file_too_large', 'length');

  const id = newId();
  const now = call.ctx.now();
  await call.ctx.storage.db
    .insertInto('slack_uploads')
    .values({
      id,
      bot_user_id: call.auth.user.id,
      team_id: call.auth.teamId,
      name,
      title: null,
      length,
      blob: null,
      created_at: now,
      expires_at: now + call.ctx.config.files.orphanGraceMs,
    })
    .execute();
  return { upload_url: `${call.baseUrl}${SLACK_UPLOAD_PATH}/${id}`, file_id: id };
};

/**
 * Stores the bytes of an announced upload. Only the bot that announced it may
 * send them, once, and at most the announced length; a second upload replaces nothing and returns found: false.
 */
export async function receiveSlackUpload(ctx: AppContext, auth: BotAuth, uploadId: string, body: Readable): Promise<{ found: boolean; size: number }> {
  const upload = await ctx.storage.db
    .selectFrom('slack_uploads')
    .selectAll()
    .where('id', '=', uploadId)
    .where('bot_user_id', '=', auth.user.id)
    .where('blob', 'is', null)
    .where('expires_at', '>', ctx.now())
    .executeTakeFirst();
  if (upload === undefined) return { found: false, size: 0 };

  const stored = await ctx.files.vault.write(body, { maxBytes: Number(upload.length) });
  const result = await ctx.storage.db
    .updateTable('slack_uploads')
    .set({ blob: JSON.stringify(stored) })
    .where('id', '=', uploadId)
    .where('blob', 'is', null)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) === 0) {
    await removeBlobs(ctx, [{ blobKey: stored.blobKey, thumbnailKey: null }]);
    return { found: false, size: 0 };
  }
  ctx.logger.info({ component: 'slack', uploadId, size: stored.size, botUserId: auth.user.id }, 'slack upload received');
  return { found: true, size: stored.size };
}

interface CompletedFile {
  id: string;
  title?: string;
}

function readCompletedFiles(value: unknown): CompletedFile[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > 10) throw new SlackApiError('invalid_arguments', 'files');
  return value.map((entry: unknown) => {
    if (typeof entry !== 'object' || entry === null || typeof (entry as CompletedFile).id !== 'string') throw new SlackApiError('invalid_arguments', 'files');
    const { id, title } = entry as CompletedFile;
    return { id, ...(typeof title === 'string' && title.trim() !== '' && { title }) };
  });
}

/**
 * files.completeUploadExternal: turns uploaded files into files of the
 * channel and shares them in one message, with initial_comment as its text
 * and in the thread of thread_ts when given. Every file must be an upload of
 * this bot whose bytes arrived.
 *
 * Without a channel, Slack keeps the files private to the uploader. Every
 * ChatterBox file belongs to a conversation, so such files go to the bot's
 * direct message with itself, attached to no message: only the bot can read
 * them, through url_private with its token. initial_comment and thread_ts
 * are then ignored.
 */
const completeUploadMethod: SlackMethod = async (call) => {
  const requested = readCompletedFiles(optionalJson(call.args, 'files'));
  if (optionalString(call.args, 'channel_id') === undefined && optionalString(call.args, 'channels') !== undefined) {
    call.args.channel_id = optionalString(call.args, 'channels')!.split(',')[0];
  }
  const shared = optionalString(call.args, 'channel_id') !== undefined;
  const conversationId = shared ? (await accessChannelArg(call, 'write', 'channel_id')).conversation.id : (await openDirectMessage(call.ctx, call.auth, call.auth.teamId, [])).conversation.id;
  const root = shared && optionalString(call.args, 'thread_ts') ? await requireMessageByTs(call, conversationId, 'thread_ts', 'thread_not_found') : undefined;

  const db = call.ctx.storage.db;
  const uploads = await db
    .selectFrom('slack_uploads')
    .selectAll()
    .where('id', 'in', requested.map((file) => file.id))
    .where('bot_user_id', '=', call.auth.user.id)
    .execute();
  const byId = new Map(uploads.map((upload) => [upload.id, upload]));
  for (const file of requested) {
    if (byId.get(file.id)?.blob == null) throw new SlackApiError('file_not_found', 'files');
  }

  const files = [];
  for (const file of requested) {
    const upload = byId.get(file.id)!;
    const stored = JSON.parse(upload.blob!) as StoredBlob;
    const row = await recordStoredFile(call.ctx, { id: upload.id, conversationId, uploaderId: call.auth.user.id, name: upload.name, mimeType: mediaTypeOf(upload.name) }, stored);
    await db.deleteFrom('slack_uploads').where('id', '=', upload.id).execute();
    files.push({ row, title: file.title ?? null });
  }
  if (!shared) {
    call.ctx.logger.info({ component: 'slack', botUserId: call.auth.user.id, fileIds: files.map((file) => file.row.id) }, 'slack upload completed without a channel; kept private');
    return { files: files.map((file) => presentSlackFile(file.row, file.title, call.baseUrl, false)) };
  }

  const comment = optionalString(call.args, 'initial_comment') ?? '';
  const names = await resolveSlackNames(db, call.auth.teamId, comment);
  await postMessage(
    call.ctx,
    call.auth,
    conversationId,
    { text: slackToMarkdown(comment, names), file_ids: files.map((file) => file.row.id), ...(root !== undefined && { thread_root_id: root.id }) },
    call.address,
    botOrigin(null),
  );
  return { files: files.map((file) => presentSlackFile(file.row, file.title, call.baseUrl, true)) };
};

export const fileMethods: Record<string, SlackMethod> = {
  'files.getUploadURLExternal': getUploadUrlMethod,
  'files.completeUploadExternal': completeUploadMethod,
};
