import { Type } from '@sinclair/typebox';
import type { App } from '../http/app.js';
import { callerOf, requireAuth } from '../http/auth.js';
import { toIso } from '../http/schemas.js';
import { Message, MessageParams } from '../messages/schemas.js';
import { presentMessages } from '../messages/present.js';
import type { AppContext } from '../platform/context.js';
import { saveMessage, unsaveMessage } from './actions.js';
import { listSavedItems } from './queries.js';

const SavedItem = Type.Object({ saved_at: Type.String(), message: Message });

export function registerSavedRoutes(app: App, ctx: AppContext): void {
  const authenticated = { onRequest: requireAuth(ctx) };
  const tags = ['saved'];

  app.get('/api/saved', { ...authenticated, schema: { tags, response: { 200: Type.Object({ items: Type.Array(SavedItem) }) } } }, async (request) => {
    const rows = await listSavedItems(ctx.storage.db, callerOf(request).user.id);
    const messages = await presentMessages(ctx.storage.db, rows.map((row) => row.message));
    return { items: rows.map((row, index) => ({ saved_at: toIso(row.saved_at), message: messages[index]! })) };
  });

  app.post('/api/messages/:messageId/save', { ...authenticated, schema: { tags, params: MessageParams } }, async (request, reply) => {
    await saveMessage(ctx, callerOf(request), request.params.messageId);
    return reply.status(204).send();
  });

  app.delete('/api/messages/:messageId/save', { ...authenticated, schema: { tags, params: MessageParams } }, async (request, reply) => {
    await unsaveMessage(ctx, callerOf(request), request.params.messageId);
    return reply.status(204).send();
  });
}
