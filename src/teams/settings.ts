import { Type, type Static } from '@sinclair/typebox';
import type { Auth } from '../accounts/actions.js';
import { commitWithEvents, type AppContext } from '../platform/context.js';
import { AppError } from '../platform/errors.js';
import { teamStream } from '../realtime/events.js';
import type { Db, Tx } from '../storage/database.js';
import type { TeamSettingsRow } from '../storage/schema.js';
import { accessTeamAsAdmin } from './access.js';
import { recordAudit } from '../audit/log.js';

/** Maximum edit or delete window a team may set: one year, in seconds. */
const MAX_WINDOW_SECONDS = 365 * 24 * 3600;

const WindowSeconds = Type.Union([Type.Integer({ minimum: 0, maximum: MAX_WINDOW_SECONDS }), Type.Null()]);

/** Shortest retention a team may set, so that a mistaken setting cannot erase recent history. */
export const MIN_RETENTION_DAYS = 365;
/** Longest retention that is not forever: one hundred years. */
const MAX_RETENTION_DAYS = 36_500;

export const TeamSettings = Type.Object({
  edit_window_seconds: Type.Union([Type.Integer(), Type.Null()], {
    description: 'Seconds after posting during which authors may edit; null for no limit, 0 to forbid editing',
  }),
  delete_window_seconds: Type.Union([Type.Integer(), Type.Null()], {
    description: 'Seconds after posting during which authors may delete their messages; null for no limit. Team admins may always delete.',
  }),
  broadcast_member_limit: Type.Union([Type.Integer(), Type.Null()], {
    description: 'Conversations with more members accept @channel, @here and @team only from team admins; null for no limit',
  }),
  retention_days: Type.Union([Type.Integer(), Type.Null()], {
    description: `Days after which messages are deleted, at least ${MIN_RETENTION_DAYS}; null keeps them forever. Only owners may change it.`,
  }),
});
export type TeamSettings = Static<typeof TeamSettings>;

export const UpdateTeamSettingsBody = Type.Object(
  {
    edit_window_seconds: Type.Optional(WindowSeconds),
    delete_window_seconds: Type.Optional(WindowSeconds),
    broadcast_member_limit: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 1_000_000 }), Type.Null()])),
    retention_days: Type.Optional(Type.Union([Type.Integer({ minimum: MIN_RETENTION_DAYS, maximum: MAX_RETENTION_DAYS }), Type.Null()])),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateTeamSettingsBody = Static<typeof UpdateTeamSettingsBody>;

const DEFAULT_SETTINGS: TeamSettings = { edit_window_seconds: null, delete_window_seconds: null, broadcast_member_limit: null, retention_days: null };

function presentSettings(row: TeamSettingsRow | undefined): TeamSettings {
  if (row === undefined) return { ...DEFAULT_SETTINGS };
  const number = (value: number | null) => (value === null ? null : Number(value));
  return {
    edit_window_seconds: number(row.edit_window_seconds),
    delete_window_seconds: number(row.delete_window_seconds),
    broadcast_member_limit: number(row.broadcast_member_limit),
    retention_days: number(row.retention_days ?? null),
  };
}

/** Reads a team's settings; a team that never changed them has the defaults, which limit nothing. */
export async function findTeamSettings(db: Db | Tx, teamId: string): Promise<TeamSettings> {
  return presentSettings(await db.selectFrom('team_settings').selectAll().where('team_id', '=', teamId).executeTakeFirst());
}

/**
 * Changes team settings (owners and admins; the retention only owners, as it
 * deletes history) and announces them on the team stream.
 */
export async function updateTeamSettings(ctx: AppContext, auth: Auth, teamId: string, body: UpdateTeamSettingsBody): Promise<TeamSettings> {
  return commitWithEvents(ctx, async (tx, events, now) => {
    const { membership } = await accessTeamAsAdmin(tx, teamId, auth.user.id);
    if (body.retention_days !== undefined && membership.role !== 'owner') {
      throw new AppError('FORBIDDEN', 'Only team owners can change the retention period');
    }
    const previous = await findTeamSettings(tx, teamId);
    const settings = { ...previous, ...body };
    await tx
      .insertInto('team_settings')
      .values({ team_id: teamId, ...settings, updated_at: now })
      .onConflict((conflict) => conflict.column('team_id').doUpdateSet({ ...settings, updated_at: now }))
      .execute();
    await events.append(teamStream(teamId), 'team.settings_updated', { team_id: teamId, settings });
    if (settings.retention_days !== previous.retention_days) {
      await recordAudit(tx, now, {
        action: 'team.retention_changed',
        actorId: auth.user.id,
        target: { type: 'team', id: teamId },
        teamId,
        address: auth.address,
        details: { from: previous.retention_days, to: settings.retention_days },
      });
    }
    ctx.logger.info({ component: 'teams', teamId, userId: auth.user.id, settings }, 'team settings changed');
    return settings;
  });
}

/**
 * Throws EDIT_WINDOW_CLOSED or DELETE_WINDOW_CLOSED when the team's window for
 * the author's change has passed.
 */
export function checkChangeWindow(settings: TeamSettings, change: 'edit' | 'delete', createdAt: number, now: number): void {
  const windowSeconds = change === 'edit' ? settings.edit_window_seconds : settings.delete_window_seconds;
  if (windowSeconds === null || now - Number(createdAt) <= windowSeconds * 1000) return;
  const code = change === 'edit' ? 'EDIT_WINDOW_CLOSED' : 'DELETE_WINDOW_CLOSED';
  throw new AppError(code, `This team allows authors to ${change} messages only within ${windowSeconds} seconds of posting`, {
    max: windowSeconds,
  });
}
