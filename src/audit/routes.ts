import { Type, type Static } from '@sinclair/typebox';
import type { App } from '../http/app.js';
import { callerOf, requireAuth } from '../http/auth.js';
import { Id, toIso } from '../http/schemas.js';
import type { AppContext } from '../platform/context.js';
import { AppError } from '../platform/errors.js';
import type { AuditLogRow } from '../storage/schema.js';
import { accessTeam } from '../teams/access.js';
import { TeamParams } from '../teams/schemas.js';
import { requireServerAdmin } from '../admin/access.js';
import { listAuditEntries } from './queries.js';

const AuditEntry = Type.Object({
  id: Id,
  at: Type.String(),
  action: Type.String(),
  actor_id: Type.Union([Id, Type.Null()]),
  target_type: Type.Union([Type.String(), Type.Null()]),
  target_id: Type.Union([Type.String(), Type.Null()]),
  team_id: Type.Union([Id, Type.Null()]),
  address: Type.Union([Type.String(), Type.Null()]),
  details: Type.Record(Type.String(), Type.Unknown()),
});
const AuditPage = Type.Object({ entries: Type.Array(AuditEntry), next_cursor: Type.Union([Type.String(), Type.Null()]) });

const PageQuery = {
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
};
const TeamAuditQuery = Type.Object(PageQuery, { additionalProperties: false });
const ServerAuditQuery = Type.Object(
  {
    ...PageQuery,
    team_id: Type.Optional(Id),
    actor_id: Type.Optional(Id),
    action: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z_.]+$' })),
  },
  { additionalProperties: false },
);

function presentEntry(row: AuditLogRow): Static<typeof AuditEntry> {
  return {
    id: row.id,
    at: toIso(row.at),
    action: row.action,
    actor_id: row.actor_id,
    target_type: row.target_type,
    target_id: row.target_id,
    team_id: row.team_id,
    address: row.address,
    details: JSON.parse(row.details) as Record<string, unknown>,
  };
}

/**
 * Read-only routes of the audit log: a team's owners read its entries, and
 * server admins read every entry. No route changes or deletes an entry.
 */
export function registerAuditRoutes(app: App, ctx: AppContext): void {
  const authenticated = { onRequest: requireAuth(ctx) };
  const tags = ['audit'];

  app.get(
    '/api/teams/:teamId/audit-log',
    { ...authenticated, schema: { tags, params: TeamParams, querystring: TeamAuditQuery, response: { 200: AuditPage } } },
    async (request) => {
      const { membership } = await accessTeam(ctx.storage.db, request.params.teamId, callerOf(request).user.id);
      if (membership.role !== 'owner') throw new AppError('FORBIDDEN', 'Only team owners can read the audit log');
      const page = await listAuditEntries(ctx.storage.db, { teamId: request.params.teamId }, request.query.limit ?? 50, request.query.cursor);
      return { entries: page.entries.map(presentEntry), next_cursor: page.nextCursor };
    },
  );

  app.get('/api/admin/audit-log', { ...authenticated, schema: { tags, querystring: ServerAuditQuery, response: { 200: AuditPage } } }, async (request) => {
    await requireServerAdmin(ctx, callerOf(request).user);
    const { cursor, limit, team_id: teamId, actor_id: actorId, action } = request.query;
    const page = await listAuditEntries(ctx.storage.db, { teamId, actorId, action }, limit ?? 50, cursor);
    return { entries: page.entries.map(presentEntry), next_cursor: page.nextCursor };
  });
}
