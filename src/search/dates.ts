/**
 * Calendar periods of the date operators, read in the searcher's time zone:
 * a day (2024-03-05), a month (2024-03), a year (2024), `today`,
 * `yesterday`, or a month name (`march`: the latest March that has begun).
 */
export interface Period {
  /** First millisecond of the period (inclusive), Unix time. */
  start: number;
  /** First millisecond after the period (exclusive), Unix time. */
  end: number;
}

const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** Returns a usable IANA time zone: the one given, or UTC when it is unknown to this Node.js build. */
export function checkTimeZone(timeZone: string): string {
  try {
    formatterFor(timeZone);
    return timeZone;
  } catch {
    return 'UTC';
  }
}

/** Local calendar fields of an instant in a time zone. */
function localFields(ms: number, timeZone: string): { year: number; month: number; day: number; hour: number; minute: number; second: number } {
  const fields: Record<string, number> = {};
  for (const part of formatterFor(timeZone).formatToParts(ms)) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  return { year: fields.year!, month: fields.month!, day: fields.day!, hour: fields.hour!, minute: fields.minute!, second: fields.second! };
}

/** Offset of a time zone from UTC at an instant, in milliseconds. */
function offsetAt(ms: number, timeZone: string): number {
  const local = localFields(ms, timeZone);
  const asUtc = Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute, local.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/**
 * Returns the first instant of a local calendar day. The offset is read
 * twice, because the first guess may fall on the other side of a daylight
 * saving change.
 */
export function startOfLocalDay(year: number, month: number, day: number, timeZone: string): number {
  const utcMidnight = Date.UTC(year, month - 1, day);
  let instant = utcMidnight - offsetAt(utcMidnight, timeZone);
  instant = utcMidnight - offsetAt(instant, timeZone);
  return instant;
}

function dayPeriod(year: number, month: number, day: number, timeZone: string): Period {
  return { start: startOfLocalDay(year, month, day, timeZone), end: startOfLocalDay(year, month, day + 1, timeZone) };
}

function isValidDay(year: number, month: number, day: number): boolean {
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/**
 * Parses the value of a date operator into a period, or returns undefined
 * when it is not a date this language accepts.
 */
export function parsePeriod(value: string, now: number, timeZone: string): Period | undefined {
  const text = value.toLowerCase();
  const today = localFields(now, timeZone);

  if (text === 'today') return dayPeriod(today.year, today.month, today.day, timeZone);
  if (text === 'yesterday') return dayPeriod(today.year, today.month, today.day - 1, timeZone);

  const monthIndex = MONTHS.findIndex((name) => name === text || (text.length >= 3 && name.slice(0, 3) === text));
  if (monthIndex >= 0) {
    const month = monthIndex + 1;
    const year = month <= today.month ? today.year : today.year - 1;
    return { start: startOfLocalDay(year, month, 1, timeZone), end: startOfLocalDay(year, month + 1, 1, timeZone) };
  }

  const match = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/.exec(text);
  if (match === null) return undefined;
  const year = Number(match[1]);
  if (year < 1970 || year > 9999) return undefined;
  if (match[2] === undefined) return { start: startOfLocalDay(year, 1, 1, timeZone), end: startOfLocalDay(year + 1, 1, 1, timeZone) };

  const month = Number(match[2]);
  if (month < 1 || month > 12) return undefined;
  if (match[3] === undefined) return { start: startOfLocalDay(year, month, 1, timeZone), end: startOfLocalDay(year, month + 1, 1, timeZone) };

  const day = Number(match[3]);
  if (!isValidDay(year, month, day)) return undefined;
  return dayPeriod(year, month, day, timeZone);
}
