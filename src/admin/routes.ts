import type { App } from '../http/app.js';
import { callerOf, requireAuth } from '../http/auth.js';
import { Id, NoContent, Strict } from '../http/schemas.js';
import type { AppContext } from '../platform/context.js';
import { deactivateUser, reactivateUser } from './actions.js';

const UserParams = Strict({ userId: Id });

/** Server-admin routes: deactivating and reactivating accounts. */
export function registerAdminRoutes(app: App, ctx: AppContext): void {
  const authenticated = { onRequest: requireAuth(ctx) };
  const tags = ['admin'];

  app.post('/api/admin/users/:userId/deactivate', { ...authenticated, schema: { tags, params: UserParams, response: NoContent } }, async (request, reply) => {
    await deactivateUser(ctx, callerOf(request), request.params.userId);
    return reply.status(204).send();
  });

  app.post('/api/admin/users/:userId/reactivate', { ...authenticated, schema: { tags, params: UserParams, response: NoContent } }, async (request, reply) => {
    await reactivateUser(ctx, callerOf(request), request.params.userId);
    return reply.status(204).send();
  });
}
