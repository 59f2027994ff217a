import type { App } from '../http/app.js';
import { callerOf, requireAuth } from '../http/auth.js';
import { MessageParams } from '../messages/schemas.js';
import type { AppContext } from '../platform/context.js';
import { addReaction, removeReaction } from './actions.js';
import { ReactionBody, ReactionParams } from './schemas.js';

export function registerReactionRoutes(app: App, ctx: AppContext): void {
  const authenticated = { onRequest: requireAuth(ctx) };
  const tags = ['reactions'];

  app.post(
    '/api/messages/:messageId/reactions',
    { ...authenticated, schema: { tags, params: MessageParams, body: ReactionBody } },
    async (request, reply) => {
      const result = await addReaction(ctx, callerOf(request), request.params.messageId, request.body.emoji);
      return reply.status(result.added ? 201 : 200).send({ emoji: result.emoji.emoji, shortcode: result.emoji.shortcode });
    },
  );

  app.delete('/api/messages/:messageId/reactions/:emoji', { ...authenticated, schema: { tags, params: ReactionParams } }, async (request, reply) => {
    await removeReaction(ctx, callerOf(request), request.params.messageId, request.params.emoji);
    return reply.status(204).send();
  });
}
