/**
 * The notification rules, as a pure function of one recipient's facts, so
 * the pipeline and its tests use the same decision. docs/notifications.md
 * states them in prose.
 */

export type NotificationLevel = 'all' | 'mentions' | 'none';
export const NOTIFICATION_LEVELS: readonly NotificationLevel[] = ['all', 'mentions', 'none'];
/** Level of a user who never set one. */
export const DEFAULT_LEVEL: NotificationLevel = 'mentions';

/**
 * Why a message concerns a recipient, strongest first: named by @username,
 * a keyword of theirs, a direct or group message, @channel or @team, @here
 * while they are active, a reply in a thread they follow, any other message.
 */
export const REASONS = ['mention', 'keyword', 'dm', 'broadcast', 'here', 'thread', 'message'] as const;
export type Reason = (typeof REASONS)[number];

export interface RecipientFacts {
  /** Every reason that applies; the strongest is the notification's reason. */
  reasons: ReadonlySet<Reason>;
  /** The conversation's override if set, else the user's level. */
  level: NotificationLevel;
  muted: boolean;
  dnd: boolean;
  /** Holds an open socket. */
  connected: boolean;
  /** Holds an open socket whose device was active within the idle time. */
  active: boolean;
}

export type Decision =
  | { notify: false; because: 'muted' | 'dnd' | 'level' | 'no reason' }
  | { notify: true; reason: Reason; socket: boolean; push: boolean };

/**
 * Decides one recipient. A muted conversation and do-not-disturb silence
 * every reason. Level 'none' notifies of nothing, 'mentions' of every reason
 * but plain messages, and 'all' of everything. A notification goes to the
 * user's sockets when they hold one, and by push when none of their sockets
 * is on an active device.
 */
export function decide(facts: RecipientFacts): Decision {
  if (facts.muted) return { notify: false, because: 'muted' };
  if (facts.dnd) return { notify: false, because: 'dnd' };
  if (facts.level === 'none') return { notify: false, because: 'level' };

  const reason = REASONS.find((candidate) => facts.reasons.has(candidate) && (candidate !== 'here' || facts.active));
  if (reason === undefined) return { notify: false, because: 'no reason' };
  if (reason === 'message' && facts.level !== 'all') return { notify: false, because: 'level' };
  return { notify: true, reason, socket: facts.connected, push: !facts.active };
}

/** The reasons that count as a mention: an edit that adds one notifies, once per user and message. */
export const MENTION_REASONS: ReadonlySet<Reason> = new Set(['mention', 'keyword', 'broadcast', 'here']);

export function parseLevel(value: string | null | undefined): NotificationLevel | undefined {
  return NOTIFICATION_LEVELS.find((level) => level === value);
}

/** Escapes a keyword for a regular expression. */
function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** True when one of the keywords occurs in the text as a whole word, compared regardless of case. */
export function matchesKeyword(text: string, keywords: readonly string[]): boolean {
  return keywords.some((keyword) => new RegExp(`(?<![\\p{L}\\p{N}_])${escapeRegExp(keyword)}(?![\\p{L}\\p{N}_])`, 'iu').test(text));
}
