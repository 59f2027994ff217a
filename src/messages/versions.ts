import { Type } from '@sinclair/typebox';
import type { Auth } from '../accounts/actions.js';
import type { App } from '../http/app.js';
import { callerOf, requireAuth } from '../http/auth.js';
import { toIso } from '../http/schemas.js';
import type { AppContext } from '../platform/context.js';
import { AppError } from '../platform/errors.js';
import type { Tx } from '../storage/database.js';
import type { MessageRow, MessageVersionRow } from '../storage/schema.js';
import { accessMessage } from './actions.js';
import { MessageParams } from './schemas.js';

/**
 * Keeps the text an edit replaces. Version 1 is the text first posted; the
 * current text is not a stored version.
 */
export async function recordVersion(tx: Tx, message: MessageRow, now: number): Promise<void> {
  const latest = await tx
    .selectFrom('message_versions')
    .select((eb) => eb.fn.max('version').as('version'))
    .where('message_id', '=', message.id)
    .executeTakeFirst();
  await tx
    .insertInto('message_versions')
    .values({
      message_id: message.id,
      version: Number(latest?.version ?? 0) + 1,
      text: message.text,
      written_at: Number(message.edited_at ?? message.created_at),
      replaced_at: now,
    })
    .execute();
}

/** Erases the earlier texts of a deleted message along with its text. */
export async function forgetVersions(tx: Tx, messageId: string): Promise<void> {
  await tx.deleteFrom('message_versions').where('message_id', '=', messageId).execute();
}

/** Reads a live message's earlier texts, oldest first; anyone who can read the message may. */
export async function listVersions(ctx: AppContext, auth: Auth, messageId: string): Promise<MessageVersionRow[]> {
  const { message } = await accessMessage(ctx.storage.db, auth.user.id, messageId);
  if (message.deleted_at !== null) throw new AppError('MESSAGE_NOT_FOUND', 'Message not found');
  return ctx.storage.db.selectFrom('message_versions').selectAll().where('message_id', '=', messageId).orderBy('version').execute();
}

const MessageVersion = Type.Object({
  version: Type.Integer(),
  text: Type.String(),
  written_at: Type.String({ description: 'When this text was posted or last edited' }),
  replaced_at: Type.String({ description: 'When an edit replaced it' }),
});

export function registerVersionRoutes(app: App, ctx: AppContext): void {
  app.get(
    '/api/messages/:messageId/versions',
    {
      onRequest: requireAuth(ctx),
      schema: { tags: ['messages'], params: MessageParams, response: { 200: Type.Object({ versions: Type.Array(MessageVersion) }) } },
    },
    async (request) => {
      const rows = await listVersions(ctx, callerOf(request), request.params.messageId);
      return {
        versions: rows.map((row) => ({
          version: Number(row.version),
          text: row.text,
          written_at: toIso(row.written_at),
          replaced_at: toIso(row.replaced_at),
        })),
      };
    },
  );
}
