import type { Auth } from '../accounts/actions.js';
import type { AppContext } from '../platform/context.js';
import { invalidField } from '../platform/errors.js';
import type { PresenceSettingsRow } from '../storage/schema.js';
import { filterVisibleUsers, loadAvailability, upsertPresenceSettings, type StoredAvailability } from './queries.js';
import { normalizeSchedule, type DndScheduleInput } from './schemas.js';
import { parseClockTime, type DndSchedule, type PresenceView } from './status.js';

export interface AvailabilityInput {
  manual_status?: 'away' | null;
  /** ISO time, or null to end do-not-disturb. */
  dnd_until?: string | null;
  dnd_schedule?: DndScheduleInput | null;
}

export interface OwnPresence {
  view: PresenceView;
  manualStatus: 'away' | null;
  /** End of do-not-disturb set by hand while it lasts, whatever the status. */
  dndUntil: number | null;
  dndSchedule: DndSchedule | null;
  timeZone: string;
}

/**
 * Changes the caller's manual status and do-not-disturb settings, then has
 * presence read them again, so watchers see the new status within one batch.
 */
export async function updateAvailability(ctx: AppContext, auth: Auth, input: AvailabilityInput): Promise<void> {
  const changes: Partial<Pick<PresenceSettingsRow, 'manual_status' | 'dnd_until' | 'dnd_schedule'>> = {};
  if (input.manual_status !== undefined) changes.manual_status = input.manual_status;
  if (input.dnd_until !== undefined) changes.dnd_until = input.dnd_until === null ? null : Date.parse(input.dnd_until);
  if (input.dnd_schedule !== undefined) {
    if (input.dnd_schedule !== null && parseClockTime(input.dnd_schedule.start) === parseClockTime(input.dnd_schedule.end)) {
      throw invalidField('dnd_schedule/end', 'The do-not-disturb schedule must end at another time than it starts');
    }
    changes.dnd_schedule = input.dnd_schedule === null ? null : JSON.stringify(normalizeSchedule(input.dnd_schedule));
  }
  if (Object.keys(changes).length === 0) return;

  await upsertPresenceSettings(ctx.storage.db, auth.user.id, changes, ctx.now());
  ctx.logger.info({ component: 'presence', userId: auth.user.id, fields: Object.keys(changes) }, 'availability settings changed');
  await ctx.presence.presence.reload(auth.user.id);
}

/** Returns the caller's presence with their own settings. */
export async function getOwnPresence(ctx: AppContext, auth: Auth): Promise<OwnPresence> {
  const userId = auth.user.id;
  const [views, stored] = await Promise.all([ctx.presence.presence.get([userId]), loadAvailability(ctx.storage.db, [userId])]);
  const availability = stored.get(userId);
  const dndUntil = availability?.settings.dndUntil ?? null;
  const view = views.get(userId) ?? { user_id: userId, status: 'offline', since: 0, last_active_at: null, dnd_until: null };
  return {
    view,
    manualStatus: availability?.settings.manualStatus ?? null,
    dndUntil: dndUntil !== null && dndUntil > ctx.now() ? dndUntil : null,
    dndSchedule: availability?.settings.dndSchedule ?? null,
    timeZone: availability?.settings.timeZone ?? auth.user.time_zone,
  };
}

/** Returns the presence of the given users who share a team with the caller; others are left out, as if unknown. */
export async function getVisiblePresence(ctx: AppContext, auth: Auth, userIds: readonly string[]): Promise<PresenceView[]> {
  const visible = await filterVisibleUsers(ctx.storage.db, auth.user.id, [...new Set(userIds)]);
  const views = await ctx.presence.presence.get([...visible]);
  return [...views.values()];
}

/** Reads users' do-not-disturb settings and time zones, for deciding notifications. */
export function readAvailability(ctx: AppContext, userIds: readonly string[]): Promise<Map<string, StoredAvailability>> {
  return loadAvailability(ctx.storage.db, userIds);
}
