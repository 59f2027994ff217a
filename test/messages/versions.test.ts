import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiError } from '../../src/client/api.js';
import { buildChannel, buildTeam, buildUser } from '../helpers/factories.js';
import { settle } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());

interface Version {
  version: number;
  text: string;
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  return promise.then(
    () => undefined,
    (error: unknown) => (error instanceof ApiError ? error.code : String(error)),
  );
}

describe('edit history', () => {
  test('keeps every earlier text', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const message = await alice.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'v1' });
    await alice.api.patch(`/api/messages/${message.id}`, { text: 'v2' });
    await alice.api.patch(`/api/messages/${message.id}`, { text: 'v3' });

    const { versions } = await bob.api.get<{ versions: Version[] }>(`/api/messages/${message.id}/versions`);
    expect(versions.map((version) => [version.version, version.text])).toEqual([
      [1, 'v1'],
      [2, 'v2'],
    ]);
  });

  test('hidden from non-members of private channels', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const channel = await buildChannel(alice, team.id, { private: true });
    const message = await alice.api.post<{ id: string }>(`/api/conversations/${channel.id}/messages`, { text: 'v1' });
    await alice.api.patch(`/api/messages/${message.id}`, { text: 'v2' });

    expect(await codeOf(bob.api.get(`/api/messages/${message.id}/versions`))).toBe('MESSAGE_NOT_FOUND');
  });

  test('deleting erases the history', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);
    const message = await alice.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'v1' });
    await alice.api.patch(`/api/messages/${message.id}`, { text: 'v2' });
    await alice.api.delete(`/api/messages/${message.id}`);

    expect(await codeOf(alice.api.get(`/api/messages/${message.id}/versions`))).toBe('MESSAGE_NOT_FOUND');
  });
});

describe('team settings', () => {
  test('defaults limit nothing', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);
    expect(await alice.api.get(`/api/teams/${team.id}/settings`)).toEqual({
      edit_window_seconds: null,
      delete_window_seconds: null,
      broadcast_member_limit: null,
      retention_days: null,
    });
  });

  test('only admins change them', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    expect(await codeOf(bob.api.patch(`/api/teams/${team.id}/settings`, { edit_window_seconds: 60 }))).toBe('FORBIDDEN');
    expect(await codeOf(alice.api.patch(`/api/teams/${team.id}/settings`, { edit_window_seconds: -1 }))).toBe('VALIDATION_FAILED');
    expect(await codeOf(alice.api.patch(`/api/teams/${team.id}/settings`, {}))).toBe('VALIDATION_FAILED');
    const overAYear = 365 * 24 * 3600 + 1;
    expect(await codeOf(alice.api.patch(`/api/teams/${team.id}/settings`, { delete_window_seconds: overAYear }))).toBe('VALIDATION_FAILED');
    expect(await codeOf(alice.api.patch(`/api/teams/${team.id}/settings`, { broadcast_member_limit: 0 }))).toBe('VALIDATION_FAILED');
  });

  test('edit window closes editing', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);
    await alice.api.patch(`/api/teams/${team.id}/settings`, { edit_window_seconds: 1 });
    const message = await alice.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'v1' });
    await alice.api.patch(`/api/messages/${message.id}`, { text: 'in time' });

    await settle(1100);
    const error = await alice.api.patch(`/api/messages/${message.id}`, { text: 'late' }).catch((caught: unknown) => caught);
    expect((error as ApiError).code).toBe('EDIT_WINDOW_CLOSED');
    expect(((error as ApiError).body as { error: { max: number } }).error.max).toBe(1);
  });

  test('zero forbids editing', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);
    await alice.api.patch(`/api/teams/${team.id}/settings`, { edit_window_seconds: 0 });
    const message = await alice.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'v1' });
    await settle(5);
    expect(await codeOf(alice.api.patch(`/api/messages/${message.id}`, { text: 'v2' }))).toBe('EDIT_WINDOW_CLOSED');
  });

  test('delete window binds authors, not admins', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    await alice.api.patch(`/api/teams/${team.id}/settings`, { delete_window_seconds: 1 });
    const first = await bob.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'one' });
    const second = await bob.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'two' });

    await settle(1100);
    expect(await codeOf(bob.api.delete(`/api/messages/${first.id}`))).toBe('DELETE_WINDOW_CLOSED');
    await alice.api.delete(`/api/messages/${second.id}`);
    await alice.api.patch(`/api/teams/${team.id}/settings`, { delete_window_seconds: null });
    await bob.api.delete(`/api/messages/${first.id}`);
  });
});
