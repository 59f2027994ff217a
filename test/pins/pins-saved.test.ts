import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildChannel, buildTeam, buildUser } from '../helpers/factories.js';
import { listen, settle } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());

interface Pin {
  message_id: string;
  pinned_by: string;
}

describe('pins', () => {
  test('members pin and list in order', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const first = await alice.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'first' });
    const second = await alice.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'second' });

    await bob.api.post(`/api/messages/${second.id}/pin`);
    await alice.api.post(`/api/messages/${first.id}/pin`);
    await alice.api.post(`/api/messages/${first.id}/pin`);

    const { pins } = await bob.api.get<{ pins: Pin[] }>(`/api/conversations/${team.generalId}/pins`);
    expect(pins.map((pin) => [pin.message_id, pin.pinned_by])).toEqual([
      [second.id, bob.id],
      [first.id, alice.id],
    ]);
  });

  test('unpin and delete remove pins', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);
    const kept = await alice.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'kept' });
    const gone = await alice.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'gone' });
    const dropped = await alice.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'dropped' });
    for (const message of [kept, gone, dropped]) await alice.api.post(`/api/messages/${message.id}/pin`);

    await alice.api.delete(`/api/messages/${dropped.id}/pin`);
    await alice.api.delete(`/api/messages/${gone.id}`);
    const { pins } = await alice.api.get<{ pins: Pin[] }>(`/api/conversations/${team.generalId}/pins`);
    expect(pins.map((pin) => pin.message_id)).toEqual([kept.id]);
  });
});

describe('saved items', () => {
  test('private to the user and their devices', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const message = await alice.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'remember' });
    const aliceSocket = await listen(server.wsUrl, alice.token);
    const bobSocket = await listen(server.wsUrl, bob.token);

    await bob.api.post(`/api/messages/${message.id}/save`);
    await bob.api.post(`/api/messages/${message.id}/save`);
    await bobSocket.waitFor((events) => events.some((event) => event.event === 'message.saved'));
    await settle(200);

    const { items } = await bob.api.get<{ items: Array<{ message: { id: string; text: string } }> }>('/api/saved');
    expect(items.map((item) => item.message.text)).toEqual(['remember']);
    expect((await alice.api.get<{ items: unknown[] }>('/api/saved')).items).toEqual([]);
    expect(bobSocket.events.filter((event) => event.event === 'message.saved')).toHaveLength(1);
    expect(aliceSocket.events.some((event) => event.event === 'message.saved')).toBe(false);
    aliceSocket.client.stop();
    bobSocket.client.stop();
  });

  test('unsave, delete and leave forget items', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const channel = await buildChannel(alice, team.id, { private: true, members: [bob] });
    const unsaved = await alice.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'unsaved' });
    const deleted = await alice.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'deleted' });
    const secret = await alice.api.post<{ id: string }>(`/api/conversations/${channel.id}/messages`, { text: 'secret' });
    for (const message of [unsaved, deleted, secret]) await bob.api.post(`/api/messages/${message.id}/save`);

    await bob.api.delete(`/api/messages/${unsaved.id}/save`);
    await alice.api.delete(`/api/messages/${deleted.id}`);
    await alice.api.delete(`/api/conversations/${channel.id}/members/${bob.id}`);
    expect((await bob.api.get<{ items: unknown[] }>('/api/saved')).items).toEqual([]);

    await alice.api.post(`/api/conversations/${channel.id}/members`, { user_ids: [bob.id] });
    expect((await bob.api.get<{ items: unknown[] }>('/api/saved')).items).toEqual([]);
  });
});
