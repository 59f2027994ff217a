import { Type } from '@sinclair/typebox';
import type { App } from '../http/app.js';
import { callerOf, requireAuth } from '../http/auth.js';
import { ID_PATTERN } from '../platform/ids.js';
import { Strict, toIso } from '../http/schemas.js';
import type { AppContext } from '../platform/context.js';
import { getOwnPresence, getVisiblePresence, updateAvailability, type OwnPresence as OwnPresenceResult } from './actions.js';
import { OwnPresence, PresenceState, presentPresence, UpdatePresenceBody } from './schemas.js';

/** Most users one GET /api/presence names. */
const MAX_QUERY_USERS = 100;
const ID_SOURCE = ID_PATTERN.slice(1, -1);

const PresenceQuery = Strict({
  user_ids: Type.String({
    pattern: `^${ID_SOURCE}(,${ID_SOURCE}){0,${MAX_QUERY_USERS - 1}}$`,
    description: `Comma-separated user ids, at most ${MAX_QUERY_USERS}`,
  }),
});

export function registerPresenceRoutes(app: App, ctx: AppContext): void {
  const authenticated = { onRequest: requireAuth(ctx) };
  const tags = ['presence'];

  app.get('/api/presence/me', { ...authenticated, schema: { tags, response: { 200: OwnPresence } } }, async (request) =>
    presentOwn(await getOwnPresence(ctx, callerOf(request))),
  );

  app.patch('/api/presence/me', { ...authenticated, schema: { tags, body: UpdatePresenceBody, response: { 200: OwnPresence } } }, async (request) => {
    const auth = callerOf(request);
    await updateAvailability(ctx, auth, request.body);
    return presentOwn(await getOwnPresence(ctx, auth));
  });

  app.get(
    '/api/presence',
    { ...authenticated, schema: { tags, querystring: PresenceQuery, response: { 200: Type.Object({ users: Type.Array(PresenceState) }) } } },
    async (request) => {
      const views = await getVisiblePresence(ctx, callerOf(request), request.query.user_ids.split(','));
      return { users: views.map(presentPresence) };
    },
  );
}

function presentOwn(own: OwnPresenceResult) {
  return {
    ...presentPresence(own.view),
    // The owner sees a do-not-disturb end set by hand even while offline.
    dnd_until: toIso(own.dndUntil),
    manual_status: own.manualStatus,
    dnd_schedule: own.dndSchedule,
    time_zone: own.timeZone,
  };
}
