import { Type } from '@sinclair/typebox';
import type { App } from '../http/app.js';
import { callerOf, requireAuth } from '../http/auth.js';
import { ConversationParams } from '../conversations/schemas.js';
import { MessageParams } from '../messages/schemas.js';
import type { AppContext } from '../platform/context.js';
import { followThreadByHand, markConversationRead, markThreadRead, unfollowThread } from './actions.js';
import { listConversationCounts, listThreadCounts } from './queries.js';
import {
  ConversationReadState,
  MarkReadBody,
  SidebarQuery,
  ThreadListQuery,
  ThreadReadState,
  compareThreads,
  presentConversationCounts,
  presentThreadCounts,
} from './schemas.js';

export function registerReadRoutes(app: App, ctx: AppContext): void {
  const authenticated = { onRequest: requireAuth(ctx) };
  const tags = ['reads'];
  // Marking read needs no body: a request without one reads up to the stream head.
  const optionalBody = {
    preValidation: async (request: { body: unknown }) => {
      request.body ??= {};
    },
  };

  app.get(
    '/api/sidebar',
    {
      ...authenticated,
      schema: { tags, querystring: SidebarQuery, response: { 200: Type.Object({ conversations: Type.Array(ConversationReadState) }) } },
    },
    async (request) => {
      const rows = await listConversationCounts(ctx.storage.db, callerOf(request).user.id, {
        teamId: request.query.team_id,
        conversationId: request.query.conversation_id,
      });
      return { conversations: rows.map(presentConversationCounts) };
    },
  );

  app.post(
    '/api/conversations/:conversationId/read',
    { ...authenticated, ...optionalBody, schema: { tags, params: ConversationParams, body: MarkReadBody, response: { 200: ConversationReadState } } },
    async (request) => presentConversationCounts(await markConversationRead(ctx, callerOf(request), request.params.conversationId, request.body.seq)),
  );

  app.get(
    '/api/threads',
    {
      ...authenticated,
      schema: {
        tags,
        querystring: ThreadListQuery,
        response: { 200: Type.Object({ threads: Type.Array(ThreadReadState), has_more: Type.Boolean() }) },
      },
    },
    async (request) => {
      // TODO: counts are computed for every followed thread before sorting; a user following
      // many thousands of threads needs a stored "has unread" order instead.
      const rows = (await listThreadCounts(ctx.storage.db, callerOf(request).user.id)).sort(compareThreads);
      const limit = request.query.limit ?? 100;
      return { threads: rows.slice(0, limit).map(presentThreadCounts), has_more: rows.length > limit };
    },
  );

  app.post(
    '/api/messages/:messageId/thread/read',
    { ...authenticated, ...optionalBody, schema: { tags, params: MessageParams, body: MarkReadBody, response: { 200: ThreadReadState } } },
    async (request) => presentThreadCounts(await markThreadRead(ctx, callerOf(request), request.params.messageId, request.body.seq)),
  );

  app.post(
    '/api/messages/:messageId/follow',
    { ...authenticated, schema: { tags, params: MessageParams, response: { 200: ThreadReadState } } },
    async (request) => presentThreadCounts(await followThreadByHand(ctx, callerOf(request), request.params.messageId)),
  );

  app.delete('/api/messages/:messageId/follow', { ...authenticated, schema: { tags, params: MessageParams } }, async (request, reply) => {
    await unfollowThread(ctx, callerOf(request), request.params.messageId);
    return reply.status(204).send();
  });
}
