import WebSocket from 'ws';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Message } from '../../src/messages/schemas.js';
import { buildTeam, buildUser } from '../helpers/factories.js';
import { listen, waitUntil } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());

interface Frame {
  type: string;
  stream?: string;
  event?: string;
  data?: { message?: Message };
}

/** Opens a raw socket with the given positions and records every frame. */
async function openWithPositions(token: string, positions: Record<string, number>) {
  const ws = new WebSocket(server.wsUrl, { headers: { authorization: `Bearer ${token}` } });
  const frames: Frame[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(String(data)) as Frame));
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(JSON.stringify({ type: 'hello', positions }));
  await waitUntil(() => frames.some((frame) => frame.type === 'ready'), 5000, 'ready');
  return { ws, frames };
}

function posted(frames: Frame[]): string[] {
  return frames.filter((frame) => frame.event === 'message.posted').map((frame) => frame.data?.message?.text ?? '');
}

test('direct message resumes after team re-add', async () => {
  const ada = await buildUser(server.url, 'ada');
  const carol = await buildUser(server.url, 'carol');
  const team = await buildTeam(ada, [carol]);
  const dm = await ada.api.post<{ id: string }>(`/api/teams/${team.id}/dms`, { user_ids: [carol.id] });
  const carolSocket = await listen(server.wsUrl, carol.token);

  await ada.api.delete(`/api/teams/${team.id}/members/${carol.id}`);
  await ada.api.post(`/api/teams/${team.id}/members`, { user_id: carol.id });
  await ada.api.post(`/api/conversations/${dm.id}/messages`, { text: 'welcome back' });

  await carolSocket.waitFor((events) =>
    events.some((event) => event.event === 'message.posted' && (event.data.message as Message).text === 'welcome back'),
  );
  const joined = carolSocket.events.filter((event) => event.event === 'conversation.joined').map((event) => (event.data.conversation as { id: string }).id);
  expect(joined).toContain(dm.id);
  carolSocket.client.stop();
});

test('old removal replay keeps current member', async () => {
  const ada = await buildUser(server.url, 'ada');
  const carol = await buildUser(server.url, 'carol');
  const team = await buildTeam(ada, [carol]);
  await ada.api.delete(`/api/teams/${team.id}/members/${carol.id}`);
  await ada.api.post(`/api/teams/${team.id}/members`, { user_id: carol.id });
  await ada.api.post(`/api/conversations/${team.generalId}/messages`, { text: 'after return' });

  // Replaying #general from its start passes carol's own removal; she is a member again now.
  const socket = await openWithPositions(carol.token, { [`c:${team.generalId}`]: 0 });
  await waitUntil(() => posted(socket.frames).includes('after return'), 5000, 'replayed message after return');

  await ada.api.post(`/api/conversations/${team.generalId}/messages`, { text: 'live after replay' });
  await waitUntil(() => posted(socket.frames).includes('live after replay'), 5000, 'live message after replay');
  socket.ws.close();
});

test('replay hides deleted text', async () => {
  const ada = await buildUser(server.url, 'ada');
  const team = await buildTeam(ada);
  const message = await ada.api.post<Message>(`/api/conversations/${team.generalId}/messages`, { text: 'SECRET-DELETE-ME' });
  await ada.api.patch(`/api/messages/${message.id}`, { text: 'EDITED-SECRET' });
  await ada.api.delete(`/api/messages/${message.id}`);

  const latecomer = await buildUser(server.url, 'late');
  await ada.api.post(`/api/teams/${team.id}/members`, { user_id: latecomer.id });
  const socket = await openWithPositions(latecomer.token, { [`c:${team.generalId}`]: 0 });
  await waitUntil(() => socket.frames.some((frame) => frame.event === 'message.deleted'), 5000, 'replayed delete');

  const replayed = JSON.stringify(socket.frames);
  expect(replayed).not.toContain('SECRET-DELETE-ME');
  expect(replayed).not.toContain('EDITED-SECRET');
  socket.ws.close();
});
