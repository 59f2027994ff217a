import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildChannel, buildTeam, buildUser, type TestUser } from '../helpers/factories.js';
import { settle } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { openReadySocket, type Frame, type FrameSocket } from '../helpers/sockets.js';

const THROTTLE_MS = 400;
const EXPIRY_MS = 800;

let server: TestServer;
beforeAll(async () => {
  server = await startServer({ presence: { typingThrottleMs: THROTTLE_MS, typingExpiryMs: EXPIRY_MS } });
});
afterAll(async () => server.close());

interface Room {
  alice: TestUser;
  bob: TestUser;
  carol: TestUser;
  teamId: string;
  channelId: string;
}

/** Alice and Bob share a channel; Carol is in the team but not in the channel. */
async function buildRoom(): Promise<Room> {
  const alice = await buildUser(server.url, 'alice');
  const bob = await buildUser(server.url, 'bob');
  const carol = await buildUser(server.url, 'carol');
  const team = await buildTeam(alice, [bob, carol]);
  const channel = await buildChannel(alice, team.id, { members: [bob] });
  return { alice, bob, carol, teamId: team.id, channelId: channel.id };
}

function typingFrames(socket: FrameSocket, userId: string): Frame[] {
  return socket.framesOf('typing').filter((frame) => frame.user_id === userId);
}

describe('typing indicators', () => {
  test('members receive typing, others do not', async () => {
    const { alice, bob, carol, channelId } = await buildRoom();
    const [aliceSocket, bobSocket, carolSocket] = await Promise.all([alice, bob, carol].map((user) => openReadySocket(server.wsUrl, user.token)));

    aliceSocket!.send({ type: 'typing', conversation_id: channelId });
    const frame = await bobSocket!.waitForFrame((candidate) => candidate.type === 'typing');
    expect(frame).toEqual({ type: 'typing', conversation_id: channelId, thread_root_id: null, user_id: alice.id, active: true, expires_in_ms: EXPIRY_MS });
    await settle(200);
    expect(carolSocket!.framesOf('typing')).toEqual([]);
    for (const socket of [aliceSocket, bobSocket, carolSocket]) await socket!.close();
  });

  test('non-member typing is rejected', async () => {
    const { carol, channelId } = await buildRoom();
    const outsider = await buildUser(server.url, 'dave');
    const carolSocket = await openReadySocket(server.wsUrl, carol.token);
    const outsiderSocket = await openReadySocket(server.wsUrl, outsider.token);

    for (const socket of [carolSocket, outsiderSocket]) {
      socket.send({ type: 'typing', id: 3, conversation_id: channelId });
      const error = await socket.waitForFrame((frame) => frame.type === 'error');
      expect(error.id).toBe(3);
      expect(error.error).toMatchObject({ code: 'CONVERSATION_NOT_FOUND', field: 'conversation_id' });
      await socket.close();
    }
  });

  test('removed member stops receiving typing', async () => {
    const { alice, bob, channelId } = await buildRoom();
    const aliceSocket = await openReadySocket(server.wsUrl, alice.token);
    const bobSocket = await openReadySocket(server.wsUrl, bob.token);
    await alice.api.delete(`/api/conversations/${channelId}/members/${bob.id}`);
    await bobSocket.waitForFrame((frame) => frame.type === 'event' && frame.event === 'member.left');

    aliceSocket.send({ type: 'typing', conversation_id: channelId });
    await settle(300);
    expect(bobSocket.framesOf('typing')).toEqual([]);
    bobSocket.send({ type: 'typing', conversation_id: channelId });
    const error = await bobSocket.waitForFrame((frame) => frame.type === 'error');
    expect((error.error as { code: string }).code).toBe('CONVERSATION_NOT_FOUND');
    await aliceSocket.close();
    await bobSocket.close();
  });

  test('typing in a thread names its root', async () => {
    const { alice, bob, channelId, teamId } = await buildRoom();
    const root = await alice.api.post<{ id: string }>(`/api/conversations/${channelId}/messages`, { text: 'root' });
    const reply = await alice.api.post<{ id: string }>(`/api/conversations/${channelId}/messages`, { text: 'reply', thread_root_id: root.id });
    const elsewhere = await buildChannel(alice, teamId);
    const foreignRoot = await alice.api.post<{ id: string }>(`/api/conversations/${elsewhere.id}/messages`, { text: 'other root' });
    const aliceSocket = await openReadySocket(server.wsUrl, alice.token);
    const bobSocket = await openReadySocket(server.wsUrl, bob.token);

    aliceSocket.send({ type: 'typing', conversation_id: channelId, thread_root_id: root.id });
    const frame = await bobSocket.waitForFrame((candidate) => candidate.type === 'typing');
    expect(frame.thread_root_id).toBe(root.id);

    for (const badRoot of [reply.id, foreignRoot.id, '00000000-0000-4000-8000-000000000000']) {
      aliceSocket.frames.length = 0;
      aliceSocket.send({ type: 'typing', conversation_id: channelId, thread_root_id: badRoot });
      const error = await aliceSocket.waitForFrame((candidate) => candidate.type === 'error');
      expect(error.error).toMatchObject({ code: 'MESSAGE_NOT_FOUND', field: 'thread_root_id' });
    }
    await aliceSocket.close();
    await bobSocket.close();
  });

  test('typing is throttled', async () => {
    const { alice, bob, channelId } = await buildRoom();
    const aliceSocket = await openReadySocket(server.wsUrl, alice.token);
    const bobSocket = await openReadySocket(server.wsUrl, bob.token);

    for (let index = 0; index < 5; index += 1) aliceSocket.send({ type: 'typing', conversation_id: channelId });
    await settle(THROTTLE_MS / 2);
    expect(typingFrames(bobSocket, alice.id)).toHaveLength(1);

    await settle(THROTTLE_MS);
    aliceSocket.send({ type: 'typing', conversation_id: channelId });
    await bobSocket.waitForFrame(() => typingFrames(bobSocket, alice.id).length === 2);
    expect(typingFrames(bobSocket, alice.id).every((frame) => frame.active === true)).toBe(true);
    await aliceSocket.close();
    await bobSocket.close();
  });

  test('typing expires without new frames', async () => {
    const { alice, bob, channelId } = await buildRoom();
    const aliceSocket = await openReadySocket(server.wsUrl, alice.token);
    const bobSocket = await openReadySocket(server.wsUrl, bob.token);

    const sentAt = Date.now();
    aliceSocket.send({ type: 'typing', conversation_id: channelId });
    await bobSocket.waitForFrame((frame) => frame.type === 'typing' && frame.active === false, EXPIRY_MS * 3);
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(EXPIRY_MS - 50);
    expect(typingFrames(bobSocket, alice.id).map((frame) => frame.active)).toEqual([true, false]);
    await aliceSocket.close();
    await bobSocket.close();
  });

  test('typist leaving stops typing at once', async () => {
    const { alice, bob, channelId } = await buildRoom();
    const aliceSocket = await openReadySocket(server.wsUrl, alice.token);
    const bobSocket = await openReadySocket(server.wsUrl, bob.token);
    aliceSocket.send({ type: 'typing', conversation_id: channelId });
    await bobSocket.waitForFrame((frame) => frame.type === 'typing');

    const closedAt = Date.now();
    aliceSocket.ws.terminate();
    await bobSocket.waitForFrame((frame) => frame.type === 'typing' && frame.active === false);
    expect(Date.now() - closedAt).toBeLessThan(EXPIRY_MS);
    await bobSocket.close();
  });

  test('posting stops typing', async () => {
    const { alice, bob, channelId } = await buildRoom();
    const aliceSocket = await openReadySocket(server.wsUrl, alice.token);
    const bobSocket = await openReadySocket(server.wsUrl, bob.token);
    aliceSocket.send({ type: 'typing', conversation_id: channelId });
    await bobSocket.waitForFrame((frame) => frame.type === 'typing');

    aliceSocket.send({ type: 'post', id: 1, conversation_id: channelId, text: 'done typing' });
    const stopped = await bobSocket.waitForFrame((frame) => frame.type === 'typing' && frame.active === false, EXPIRY_MS / 2);
    expect(stopped.conversation_id).toBe(channelId);
    await aliceSocket.close();
    await bobSocket.close();
  });
});
