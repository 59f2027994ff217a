import { Type } from '@sinclair/typebox';
import type { App } from '../http/app.js';
import { callerOf, requireAuth } from '../http/auth.js';
import { Id, toIso } from '../http/schemas.js';
import { accessConversation } from '../conversations/access.js';
import { ConversationParams } from '../conversations/schemas.js';
import { MessageParams } from '../messages/schemas.js';
import type { AppContext } from '../platform/context.js';
import { pinMessage, unpinMessage } from './actions.js';
import { listPins } from './queries.js';

const Pin = Type.Object({ message_id: Id, pinned_by: Id, pinned_at: Type.String() });

export function registerPinRoutes(app: App, ctx: AppContext): void {
  const authenticated = { onRequest: requireAuth(ctx) };
  const tags = ['pins'];

  app.get(
    '/api/conversations/:conversationId/pins',
    { ...authenticated, schema: { tags, params: ConversationParams, response: { 200: Type.Object({ pins: Type.Array(Pin) }) } } },
    async (request) => {
      await accessConversation(ctx.storage.db, request.params.conversationId, callerOf(request).user.id, 'read');
      const rows = await listPins(ctx.storage.db, request.params.conversationId);
      return { pins: rows.map((row) => ({ message_id: row.message_id, pinned_by: row.pinned_by, pinned_at: toIso(row.pinned_at) })) };
    },
  );

  app.post('/api/messages/:messageId/pin', { ...authenticated, schema: { tags, params: MessageParams } }, async (request, reply) => {
    await pinMessage(ctx, callerOf(request), request.params.messageId);
    return reply.status(204).send();
  });

  app.delete('/api/messages/:messageId/pin', { ...authenticated, schema: { tags, params: MessageParams } }, async (request, reply) => {
    await unpinMessage(ctx, callerOf(request), request.params.messageId);
    return reply.status(204).send();
  });
}
