import { Type } from '@sinclair/typebox';
import type { App } from '../http/app.js';
import { callerOf, requireAuth } from '../http/auth.js';
import { NoContent } from '../http/schemas.js';
import type { AppContext } from '../platform/context.js';
import { accessTeam } from './access.js';
import { addTeamMember, changeRole, createTeam, removeTeamMember } from './actions.js';
import { listTeamMembers, listTeamsOfUser } from './queries.js';
import {
  AddMemberBody,
  Role,
  ChangeRoleBody,
  CreateTeamBody,
  Team,
  TeamMember,
  TeamMemberParams,
  TeamParams,
  presentTeam,
  presentTeamMember,
} from './schemas.js';

export function registerTeamRoutes(app: App, ctx: AppContext): void {
  const authenticated = { onRequest: requireAuth(ctx) };
  const tags = ['teams'];

  app.post('/api/teams', { ...authenticated, schema: { tags, body: CreateTeamBody, response: { 201: Team } } }, async (request, reply) => {
    const team = await createTeam(ctx, callerOf(request), request.body);
    return reply.status(201).send(presentTeam(team, 'owner'));
  });

  app.get('/api/teams', { ...authenticated, schema: { tags, response: { 200: Type.Object({ teams: Type.Array(Team) }) } } }, async (request) => {
    const rows = await listTeamsOfUser(ctx.storage.db, callerOf(request).user.id);
    return { teams: rows.map((row) => presentTeam(row, row.role)) };
  });

  app.get('/api/teams/:teamId', { ...authenticated, schema: { tags, params: TeamParams, response: { 200: Team } } }, async (request) => {
    const { team, membership } = await accessTeam(ctx.storage.db, request.params.teamId, callerOf(request).user.id);
    return presentTeam(team, membership.role);
  });

  app.get(
    '/api/teams/:teamId/members',
    { ...authenticated, schema: { tags, params: TeamParams, response: { 200: Type.Object({ members: Type.Array(TeamMember) }) } } },
    async (request) => {
      await accessTeam(ctx.storage.db, request.params.teamId, callerOf(request).user.id);
      const rows = await listTeamMembers(ctx.storage.db, request.params.teamId);
      return { members: rows.map((row) => presentTeamMember(row, row.role, Number(row.joined_at))) };
    },
  );

  app.post(
    '/api/teams/:teamId/members',
    {
      ...authenticated,
      schema: { tags, params: TeamParams, body: AddMemberBody, response: { 201: Type.Object({ user_id: Type.String(), role: Role }) } },
    },
    async (request, reply) => {
      const added = await addTeamMember(ctx, callerOf(request), request.params.teamId, request.body);
      return reply.status(201).send({ user_id: added.userId, role: added.role });
    },
  );

  app.patch(
    '/api/teams/:teamId/members/:userId',
    { ...authenticated, schema: { tags, params: TeamMemberParams, body: ChangeRoleBody, response: NoContent } },
    async (request, reply) => {
      await changeRole(ctx, callerOf(request), request.params.teamId, request.params.userId, request.body.role);
      return reply.status(204).send();
    },
  );

  app.delete('/api/teams/:teamId/members/:userId', { ...authenticated, schema: { tags, params: TeamMemberParams, response: NoContent } }, async (request, reply) => {
    await removeTeamMember(ctx, callerOf(request), request.params.teamId, request.params.userId);
    return reply.status(204).send();
  });

  app.post('/api/teams/:teamId/leave', { ...authenticated, schema: { tags, params: TeamParams, response: NoContent } }, async (request, reply) => {
    const caller = callerOf(request);
    await removeTeamMember(ctx, caller, request.params.teamId, caller.user.id);
    return reply.status(204).send();
  });
}
