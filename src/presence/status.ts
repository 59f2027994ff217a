/**
 * The presence rules, as pure functions of a user's state and the time. Both
 * presence implementations (memory and Redis) decide with these, so they agree.
 */

export type PresenceStatus = 'online' | 'away' | 'dnd' | 'offline';

/** A daily do-not-disturb window in the user's time zone: "22:00" to "07:00" crosses midnight. */
export interface DndSchedule {
  /** Local start time, HH:MM (24-hour). */
  start: string;
  /** Local end time, HH:MM; the window ends at this minute. */
  end: string;
  /** Days on which a window starts, 0 for Sunday to 6 for Saturday. */
  days: number[];
}

/** A user's availability settings, with the time zone their schedule is read in. */
export interface AvailabilitySettings {
  /** 'away' while the user set it by hand. */
  manualStatus: 'away' | null;
  /** End of a do-not-disturb period set by hand, Unix milliseconds. */
  dndUntil: number | null;
  dndSchedule: DndSchedule | null;
  /** IANA time zone name, such as Europe/Paris. */
  timeZone: string;
}

export const DEFAULT_SETTINGS: AvailabilitySettings = { manualStatus: null, dndUntil: null, dndSchedule: null, timeZone: 'UTC' };

/** A user's presence as watchers receive it. Times are Unix milliseconds. */
export interface PresenceView {
  user_id: string;
  status: PresenceStatus;
  /** When the status took its current value. */
  since: number;
  last_active_at: number | null;
  /** End of a do-not-disturb period set by hand, while it lasts. */
  dnd_until: number | null;
}

/** Whether the user can be reached on an open socket, and whether a device of theirs was active within the idle time. */
export interface DeliveryState {
  connected: boolean;
  active: boolean;
}

/** Returns how a user can be reached: connected with live sockets, and active when also used within the idle timeout. */
export function deliveryStateOf(liveSockets: number, lastActiveAt: number | null, now: number, idleTimeoutMs: number): DeliveryState {
  const connected = liveSockets > 0;
  return { connected, active: connected && lastActiveAt !== null && now - lastActiveAt < idleTimeoutMs };
}

export interface StatusInput {
  connected: boolean;
  lastActiveAt: number | null;
  settings: AvailabilitySettings;
}

const MINUTES_PER_DAY = 24 * 60;
/** Maximum wait between two checks of a schedule, so a daylight-saving shift is noticed within this time. */
const MAX_SCHEDULE_CHECK_MS = 15 * 60_000;

/** Decides the status: offline without a connection, then do-not-disturb, then away (by hand or idle), else online. */
export function computeStatus(input: StatusInput, now: number, idleTimeoutMs: number): PresenceStatus {
  if (!input.connected) return 'offline';
  if (isDndActive(input.settings, now)) return 'dnd';
  if (input.settings.manualStatus === 'away') return 'away';
  if (input.lastActiveAt === null || now - input.lastActiveAt >= idleTimeoutMs) return 'away';
  return 'online';
}

/** True while a do-not-disturb period set by hand lasts or the schedule's window is open. */
export function isDndActive(settings: AvailabilitySettings, now: number): boolean {
  if (settings.dndUntil !== null && now < settings.dndUntil) return true;
  return settings.dndSchedule !== null && isInSchedule(settings.dndSchedule, settings.timeZone, now);
}

/**
 * Returns the next time at which the status may change with no new input:
 * the idle timeout, the end of a do-not-disturb period or a schedule
 * boundary. Undefined when nothing is due.
 */
export function nextStatusCheck(input: StatusInput, now: number, idleTimeoutMs: number): number | undefined {
  if (!input.connected) return undefined;
  const candidates: number[] = [];
  if (input.lastActiveAt !== null && now - input.lastActiveAt < idleTimeoutMs) candidates.push(input.lastActiveAt + idleTimeoutMs);
  if (input.settings.dndUntil !== null && now < input.settings.dndUntil) candidates.push(input.settings.dndUntil);
  if (input.settings.dndSchedule !== null) candidates.push(nextScheduleBoundary(input.settings.dndSchedule, input.settings.timeZone, now));
  return candidates.length === 0 ? undefined : Math.min(...candidates);
}

/** Returns the end of a do-not-disturb period set by hand that makes the status 'dnd' at `at`, or null. */
export function manualDndEnd(status: PresenceStatus, settings: AvailabilitySettings, at: number): number | null {
  return status === 'dnd' && settings.dndUntil !== null && settings.dndUntil > at ? settings.dndUntil : null;
}

/** Parses "HH:MM" into minutes after midnight, or undefined when invalid. */
export function parseClockTime(value: string): number | undefined {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(value);
  if (match === null) return undefined;
  return Number(match[1]) * 60 + Number(match[2]);
}

/** True when `now` falls in a window of the schedule, read in the time zone. */
export function isInSchedule(schedule: DndSchedule, timeZone: string, now: number): boolean {
  const start = parseClockTime(schedule.start);
  const end = parseClockTime(schedule.end);
  if (start === undefined || end === undefined || start === end) return false;
  const { weekday, minutes } = localClock(timeZone, now);
  if (start < end) return schedule.days.includes(weekday) && minutes >= start && minutes < end;
  // The window crosses midnight: it began today after start, or yesterday and ends today.
  const yesterday = (weekday + 6) % 7;
  return (schedule.days.includes(weekday) && minutes >= start) || (schedule.days.includes(yesterday) && minutes < end);
}

/**
 * Returns the next start or end of a window in local wall-clock time, or
 * 15 minutes from now if that is sooner. Across a daylight-saving shift the
 * estimate can be an hour off, and the check at the estimated time schedules
 * the next one, so the status is corrected within 15 minutes.
 */
function nextScheduleBoundary(schedule: DndSchedule, timeZone: string, now: number): number {
  const start = parseClockTime(schedule.start);
  const end = parseClockTime(schedule.end);
  if (start === undefined || end === undefined) return now + MAX_SCHEDULE_CHECK_MS;
  const { minutes, msIntoMinute } = localClock(timeZone, now);
  const untilBoundary = Math.min(...[start, end].map((boundary) => (boundary - minutes + MINUTES_PER_DAY) % MINUTES_PER_DAY || MINUTES_PER_DAY));
  return Math.min(now + untilBoundary * 60_000 - msIntoMinute, now + MAX_SCHEDULE_CHECK_MS);
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** Reads the local weekday (0 for Sunday) and minutes after midnight in a time zone; an unknown zone reads as UTC. */
export function localClock(timeZone: string, now: number): { weekday: number; minutes: number; msIntoMinute: number } {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    try {
      formatter = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    } catch {
      formatter = new Intl.DateTimeFormat('en-US', { timeZone: 'UTC', weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    }
    formatters.set(timeZone, formatter);
  }
  const parts = Object.fromEntries(formatter.formatToParts(new Date(now)).map((part) => [part.type, part.value]));
  return {
    weekday: WEEKDAYS.indexOf(parts.weekday ?? 'Sun'),
    minutes: Number(parts.hour) * 60 + Number(parts.minute),
    msIntoMinute: now % 60_000,
  };
}
