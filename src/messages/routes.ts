import { Type } from '@sinclair/typebox';
import type { App } from '../http/app.js';
import { callerOf, requireAuth } from '../http/auth.js';
import { NoContent } from '../http/schemas.js';
import { ConversationParams } from '../conversations/schemas.js';
import type { AppContext } from '../platform/context.js';
import { accessMessage, deleteMessage, editMessage, postMessage } from './actions.js';
import { presentHistoryPage, readHistory, readLatestPageBody, readThread, type MessagePageView } from './history.js';
import { presentMessages, presentOneMessage } from './present.js';
import { EditMessageBody, HistoryQuery, Message, MessagePage, MessageParams, PostMessageBody, ThreadQuery, presentMessage } from './schemas.js';

export function registerMessageRoutes(app: App, ctx: AppContext): void {
  const authenticated = { onRequest: requireAuth(ctx) };
  const tags = ['messages'];

  app.post(
    '/api/conversations/:conversationId/messages',
    { ...authenticated, schema: { tags, params: ConversationParams, body: PostMessageBody, response: { 200: Message, 201: Message } } },
    async (request, reply) => {
      const result = await postMessage(ctx, callerOf(request), request.params.conversationId, request.body, request.ip);
      // A new message has no reactions yet; a retry returns the first message as it is now.
      const view = result.created ? { ...presentMessage(result.message), reactions: [], files: result.files } : await presentOneMessage(ctx.storage.db, result.message);
      return reply.status(result.created ? 201 : 200).send(view);
    },
  );

  app.get(
    '/api/conversations/:conversationId/messages',
    { ...authenticated, schema: { tags, params: ConversationParams, querystring: HistoryQuery, response: { 200: MessagePage } } },
    async (request, reply) => {
      const { query } = request;
      if (query.before === undefined && query.after === undefined && query.around === undefined) {
        // Encoded by this route's own serializer, then sent as is: Fastify does not encode a string or Buffer body again.
        const body = await readLatestPageBody(ctx, callerOf(request), request.params.conversationId, query.limit ?? 50, (page) => reply.serialize(page));
        return reply.type('application/json; charset=utf-8').send(body as unknown as MessagePageView);
      }
      const page = await readHistory(ctx, callerOf(request), request.params.conversationId, query);
      return presentHistoryPage(ctx.storage.db, page);
    },
  );

  app.get('/api/messages/:messageId', { ...authenticated, schema: { tags, params: MessageParams, response: { 200: Message } } }, async (request) => {
    const { message } = await accessMessage(ctx.storage.db, callerOf(request).user.id, request.params.messageId);
    return presentOneMessage(ctx.storage.db, message);
  });

  app.patch(
    '/api/messages/:messageId',
    { ...authenticated, schema: { tags, params: MessageParams, body: EditMessageBody, response: { 200: Message } } },
    async (request) => presentOneMessage(ctx.storage.db, await editMessage(ctx, callerOf(request), request.params.messageId, request.body.text)),
  );

  app.delete('/api/messages/:messageId', { ...authenticated, schema: { tags, params: MessageParams, response: NoContent } }, async (request, reply) => {
    await deleteMessage(ctx, callerOf(request), request.params.messageId);
    return reply.status(204).send();
  });

  app.get(
    '/api/messages/:messageId/thread',
    {
      ...authenticated,
      schema: {
        tags,
        params: MessageParams,
        querystring: ThreadQuery,
        response: { 200: Type.Object({ root: Message, replies: Type.Array(Message), has_more: Type.Boolean() }) },
      },
    },
    async (request) => {
      const thread = await readThread(ctx, callerOf(request), request.params.messageId, request.query);
      const [root, ...replies] = await presentMessages(ctx.storage.db, [thread.root, ...thread.replies]);
      return { root: root!, replies, has_more: thread.hasMore };
    },
  );
}
