import fs from 'node:fs';
import path from 'node:path';

/** The fields of a Slack export message that a replay needs. */
export interface SlackMessage {
  user: string;
  /** Slack-escaped text: `&`, `<` and `>` appear as `&amp;`, `&lt;` and `&gt;`. */
  text: string;
  /** Slack timestamp, `<seconds>.<6 digits>`, unique within the channel. */
  ts: string;
  /** The root's ts, on a thread root and on each of its replies. */
  thread_ts?: string;
  subtype?: string;
}

export interface SlackUser {
  id: string;
  name: string;
  real_name?: string;
  profile?: { display_name?: string };
}

/** One channel of a Slack export: its messages oldest first and the users who wrote them. */
export interface SlackExportSample {
  channelName: string;
  dayFiles: string[];
  messages: SlackMessage[];
  usersById: Map<string, SlackUser>;
}

const SLACK_TS = /^(\d+)\.(\d{6})$/;

/**
 * Loads the one channel of a Slack export folder (`channels.json`,
 * `users.json` and `<channel>/<YYYY-MM-DD>.json`). Throws when the folder has
 * another layout, when a message names an unknown user, or when a reply's
 * thread root is not in the sample.
 */
export function loadSlackExportSample(dir: string): SlackExportSample {
  const channels = readJson<Array<{ name: string }>>(path.join(dir, 'channels.json'));
  if (channels.length !== 1 || channels[0] === undefined) {
    throw new Error(`${path.join(dir, 'channels.json')} must list exactly one channel, found ${channels.length}`);
  }
  const channelName = channels[0].name;

  const users = readJson<SlackUser[]>(path.join(dir, 'users.json'));
  const usersById = new Map(users.map((user) => [user.id, user]));

  const channelDir = path.join(dir, channelName);
  const dayFiles = fs
    .readdirSync(channelDir)
    .filter((name) => name.endsWith('.json'))
    .sort();
  const messages = dayFiles.flatMap((name) => readJson<SlackMessage[]>(path.join(channelDir, name)));
  messages.sort((a, b) => compareSlackTs(a.ts, b.ts));

  checkMessages(messages, usersById, channelDir);
  return { channelName, dayFiles, messages, usersById };
}

const SLACK_ESCAPES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>' };

/** Replaces Slack's three escapes in one pass, so `&amp;lt;` becomes `&lt;` and not `<`. */
export function unescapeSlackText(text: string): string {
  return text.replace(/&(?:amp|lt|gt);/g, (escape) => SLACK_ESCAPES[escape] ?? escape);
}

/** True for a reply: a message whose thread_ts names another message. */
export function isThreadReply(message: SlackMessage): boolean {
  return message.thread_ts !== undefined && message.thread_ts !== message.ts;
}

/** Orders Slack timestamps exactly; `Number(ts)` would round 16 significant digits. */
export function compareSlackTs(a: string, b: string): number {
  const left = SLACK_TS.exec(a);
  const right = SLACK_TS.exec(b);
  if (left === null || right === null) throw new Error(`Invalid Slack ts "${left === null ? a : b}": expected <seconds>.<6 digits>`);
  return Number(left[1]) - Number(right[1]) || Number(left[2]) - Number(right[2]);
}

function checkMessages(messages: SlackMessage[], usersById: Map<string, SlackUser>, channelDir: string): void {
  const seen = new Set<string>();
  for (const message of messages) {
    if (typeof message.text !== 'string' || typeof message.user !== 'string') {
      throw new Error(`Message ${message.ts} in ${channelDir} has no text or no user`);
    }
    if (!usersById.has(message.user)) {
      throw new Error(`Message ${message.ts} in ${channelDir} names user ${message.user}, who is not in users.json`);
    }
    if (isThreadReply(message) && !seen.has(message.thread_ts ?? '')) {
      throw new Error(`Reply ${message.ts} in ${channelDir} belongs to thread ${message.thread_ts}, whose root is not in the sample`);
    }
    if (seen.has(message.ts)) throw new Error(`Two messages in ${channelDir} share the ts ${message.ts}`);
    seen.add(message.ts);
  }
}

function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}
