import type { App } from '../http/app.js';
import { callerOf, requireAuth } from '../http/auth.js';
import type { AppContext } from '../platform/context.js';
import { accessTeam } from './access.js';
import { TeamParams } from './schemas.js';
import { TeamSettings, UpdateTeamSettingsBody, findTeamSettings, updateTeamSettings } from './settings.js';

export function registerTeamSettingsRoutes(app: App, ctx: AppContext): void {
  const authenticated = { onRequest: requireAuth(ctx) };
  const tags = ['teams'];

  app.get('/api/teams/:teamId/settings', { ...authenticated, schema: { tags, params: TeamParams, response: { 200: TeamSettings } } }, async (request) => {
    await accessTeam(ctx.storage.db, request.params.teamId, callerOf(request).user.id);
    return findTeamSettings(ctx.storage.db, request.params.teamId);
  });

  app.patch(
    '/api/teams/:teamId/settings',
    { ...authenticated, schema: { tags, params: TeamParams, body: UpdateTeamSettingsBody, response: { 200: TeamSettings } } },
    async (request) => updateTeamSettings(ctx, callerOf(request), request.params.teamId, request.body),
  );
}
