import { afterAll, beforeAll, expect, test } from 'vitest';
import type { ApiClient } from '../../src/client/api.js';
import { buildTeam, buildUser, type TestUser } from '../helpers/factories.js';
import { waitForJobsIdle } from '../helpers/jobs.js';
import { TestPushService, type PushDevice } from '../helpers/push-service.js';
import { settle } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { openReadySocket, type FrameSocket } from '../helpers/sockets.js';

type Level = 'all' | 'mentions' | 'none';
type Dnd = 'off' | 'until' | 'schedule';
type Presence = 'active' | 'idle' | 'offline';
type Kind = 'plain' | 'mention' | 'channel' | 'here' | 'keyword' | 'thread' | 'dm';

const IDLE_MS = 1500;
const KEYWORD = 'zebra';

/** The user's own level and a conversation override, or none. */
const LEVEL_SETUPS: Array<{ user: Level; override: Level | null }> = [
  { user: 'all', override: null },
  { user: 'mentions', override: null },
  { user: 'none', override: null },
  { user: 'none', override: 'all' },
  { user: 'all', override: 'mentions' },
  { user: 'mentions', override: 'none' },
];
const MUTES = [false, true];
const DNDS: Dnd[] = ['off', 'until', 'schedule'];
const PRESENCES: Presence[] = ['active', 'idle', 'offline'];

interface Recipient {
  user: TestUser;
  level: { user: Level; override: Level | null };
  muted: boolean;
  dnd: Dnd;
  presence: Presence;
  device: PushDevice;
  socket?: FrameSocket;
  dmId?: string;
}

interface Outcome {
  reason: string;
  socket: boolean;
  push: boolean;
}

/**
 * Returns the expected outcome from the stated rules, written out apart from
 * the server's code. Mute and do-not-disturb silence everything. Level
 * 'none' notifies of nothing, and 'mentions' of all but plain messages. @here
 * counts only for active users. A socket gets the notification while
 * connected, and push while no device is active.
 */
function expected(recipient: Recipient, kind: Kind): Outcome | undefined {
  if (recipient.muted || recipient.dnd !== 'off') return undefined;
  const level = recipient.level.override ?? recipient.level.user;
  if (level === 'none') return undefined;
  const reasons: Record<Kind, string> = {
    plain: 'message',
    mention: 'mention',
    channel: 'broadcast',
    here: recipient.presence === 'active' ? 'here' : 'message',
    keyword: 'keyword',
    thread: 'thread',
    dm: 'dm',
  };
  const reason = reasons[kind];
  if (reason === 'message' && level !== 'all') return undefined;
  return { reason, socket: recipient.presence !== 'offline', push: recipient.presence !== 'active' };
}

let pushService: TestPushService;
let server: TestServer;
beforeAll(async () => {
  pushService = await TestPushService.start();
  server = await startServer({
    presence: { idleTimeoutMs: IDLE_MS },
    push: { allowedAddresses: ['127.0.0.1'], caFile: pushService.caFile },
    jobs: { pollIntervalMs: 100, concurrency: 16 },
    rateLimits: { postsPerUserPerMinute: 10_000, postsPerAddressPerMinute: 10_000 },
  });
});
afterAll(async () => {
  await server.close();
  await pushService.close();
});

async function inBatches<T, R>(items: readonly T[], size: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let start = 0; start < items.length; start += size) results.push(...(await Promise.all(items.slice(start, start + size).map(work))));
  return results;
}

function scheduleAroundNow(): { start: string; end: string } {
  const hour = new Date().getUTCHours();
  const clock = (value: number) => `${String((value + 24) % 24).padStart(2, '0')}:00`;
  return { start: clock(hour - 1), end: clock(hour + 2) };
}

async function applySettings(api: ApiClient, recipient: Recipient, conversationIds: string[]): Promise<void> {
  await api.patch('/api/notifications/preferences', {
    level: recipient.level.user,
    keywords: [KEYWORD],
    ...(recipient.dnd === 'until' && { dnd_until: new Date(Date.now() + 3600_000).toISOString() }),
    ...(recipient.dnd === 'schedule' && { dnd_schedule: scheduleAroundNow() }),
  });
  if (recipient.level.override === null && !recipient.muted) return;
  for (const conversationId of conversationIds) {
    await api.request('PUT', `/api/conversations/${conversationId}/notifications`, { level: recipient.level.override, muted: recipient.muted });
  }
}

test('preference matrix decides every recipient', { timeout: 180_000 }, async () => {
  const author = await buildUser(server.url, 'author');
  const combinations = LEVEL_SETUPS.flatMap((level) => MUTES.flatMap((muted) => DNDS.flatMap((dnd) => PRESENCES.map((presence) => ({ level, muted, dnd, presence })))));
  const recipients: Recipient[] = await inBatches(combinations, 8, async (combination) => ({
    ...combination,
    user: await buildUser(server.url, 'r'),
    device: pushService.createDevice(),
  }));
  const team = await buildTeam(author, recipients.map((recipient) => recipient.user));
  const authorDevice = pushService.createDevice();
  await author.api.post('/api/push/subscriptions', { endpoint: authorDevice.endpoint, keys: authorDevice.keys });

  const root = await author.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'thread root' });
  await inBatches(recipients, 8, async (recipient) => {
    const dm = await author.api.post<{ id: string }>(`/api/teams/${team.id}/dms`, { user_ids: [recipient.user.id] });
    recipient.dmId = dm.id;
    await applySettings(recipient.user.api, recipient, [team.generalId, dm.id]);
    await recipient.user.api.post(`/api/messages/${root.id}/follow`);
    await recipient.user.api.post('/api/push/subscriptions', { endpoint: recipient.device.endpoint, keys: recipient.device.keys });
  });
  await waitForJobsIdle(server);
  for (const recipient of recipients) recipient.device.received.length = 0;

  // Sockets open together; the idle ones then stay silent past the idle time while the active ones keep reporting activity.
  const authorSocket = await openReadySocket(server.wsUrl, author.token);
  await inBatches(recipients.filter((recipient) => recipient.presence !== 'offline'), 8, async (recipient) => {
    recipient.socket = await openReadySocket(server.wsUrl, recipient.user.token);
  });
  const active = recipients.filter((recipient) => recipient.presence === 'active');
  const keepActive = setInterval(() => {
    for (const recipient of active) recipient.socket?.send({ type: 'activity' });
  }, 300);
  try {
    await settle(IDLE_MS + 300);
    const mentionAll = recipients.map((recipient) => `@${recipient.user.username}`).join(' ');
    const general = `/api/conversations/${team.generalId}/messages`;
    const messages: Partial<Record<Kind, string>> = {};
    messages.plain = (await author.api.post<{ id: string }>(general, { text: 'plain update' })).id;
    messages.mention = (await author.api.post<{ id: string }>(general, { text: `${mentionAll} status please` })).id;
    messages.channel = (await author.api.post<{ id: string }>(general, { text: '@channel heads up' })).id;
    messages.here = (await author.api.post<{ id: string }>(general, { text: '@here quick question' })).id;
    messages.keyword = (await author.api.post<{ id: string }>(general, { text: `a ${KEYWORD.toUpperCase()} escaped` })).id;
    messages.thread = (await author.api.post<{ id: string }>(general, { text: 'reply in the thread', thread_root_id: root.id })).id;
    const dmMessages = new Map<string, string>();
    await inBatches(recipients, 8, async (recipient) => {
      dmMessages.set(recipient.user.id, (await author.api.post<{ id: string }>(`/api/conversations/${recipient.dmId}/messages`, { text: 'direct hello' })).id);
    });
    await waitForJobsIdle(server, 60_000);
    await settle(300);

    const mismatches: string[] = [];
    for (const recipient of recipients) {
      for (const kind of ['plain', 'mention', 'channel', 'here', 'keyword', 'thread', 'dm'] as Kind[]) {
        const messageId = kind === 'dm' ? dmMessages.get(recipient.user.id) : messages[kind];
        const want = expected(recipient, kind);
        const socketReasons = (recipient.socket?.framesOf('notification') ?? [])
          .map((frame) => frame.notification as { id: string; reason: string })
          .filter((notification) => notification.id === messageId)
          .map((notification) => notification.reason);
        const pushReasons = recipient.device.received.filter((push) => push.payload.id === messageId).map((push) => push.payload.reason);
        const label = `${kind} to level ${recipient.level.user}/${recipient.level.override ?? '-'} muted ${recipient.muted} dnd ${recipient.dnd} ${recipient.presence}`;
        const wantSocket = want?.socket === true ? [want.reason] : [];
        const wantPush = want?.push === true ? [want.reason] : [];
        if (JSON.stringify(socketReasons) !== JSON.stringify(wantSocket)) mismatches.push(`${label}: socket ${JSON.stringify(socketReasons)}, expected ${JSON.stringify(wantSocket)}`);
        if (JSON.stringify(pushReasons) !== JSON.stringify(wantPush)) mismatches.push(`${label}: push ${JSON.stringify(pushReasons)}, expected ${JSON.stringify(wantPush)}`);
      }
      expect(recipient.device.errors).toEqual([]);
    }
    expect(mismatches).toEqual([]);
    // The author's own messages never notify the author.
    expect(authorSocket.framesOf('notification')).toEqual([]);
    expect(authorDevice.received).toEqual([]);
  } finally {
    clearInterval(keepActive);
    for (const recipient of recipients) await recipient.socket?.close();
    await authorSocket.close();
  }
});
