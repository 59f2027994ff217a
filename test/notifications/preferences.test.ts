import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiClient } from '../../src/client/api.js';
import { expectError } from '../helpers/assertions.js';
import { buildChannel, buildTeam, buildUser } from '../helpers/factories.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());

describe('notification preferences', () => {
  test('routes need a session', async () => {
    const anonymous = new ApiClient(server.url);
    const someId = '00000000-0000-4000-8000-000000000000';
    expectError(await anonymous.raw('GET', '/api/notifications/preferences'), 401, 'UNAUTHENTICATED');
    expectError(await anonymous.raw('PATCH', '/api/notifications/preferences', { level: 'all' }), 401, 'UNAUTHENTICATED');
    expectError(await anonymous.raw('GET', `/api/conversations/${someId}/notifications`), 401, 'UNAUTHENTICATED');
    expectError(await anonymous.raw('PUT', `/api/conversations/${someId}/notifications`, { muted: true }), 401, 'UNAUTHENTICATED');
    expectError(await anonymous.raw('GET', '/api/notifications/badge'), 401, 'UNAUTHENTICATED');
  });

  test('defaults', async () => {
    const user = await buildUser(server.url, 'ann');
    expect(await user.api.get('/api/notifications/preferences')).toEqual({ level: 'mentions', keywords: [], dnd_until: null, dnd_schedule: null, time_zone: 'UTC' });
  });

  test('update level, keywords and do-not-disturb', async () => {
    const user = await buildUser(server.url, 'ben');
    const until = new Date(Date.now() + 3600_000).toISOString();
    const updated = await user.api.patch('/api/notifications/preferences', {
      level: 'all',
      keywords: [' deploy ', 'Deploy', 'incident'],
      dnd_until: until,
      dnd_schedule: { start: '22:00', end: '07:30', days: [5, 1] },
    });
    expect(updated).toEqual({ level: 'all', keywords: ['deploy', 'incident'], dnd_until: until, dnd_schedule: { start: '22:00', end: '07:30', days: [1, 5] }, time_zone: 'UTC' });

    const cleared = await user.api.patch('/api/notifications/preferences', { dnd_until: null, dnd_schedule: null });
    expect(cleared).toMatchObject({ level: 'all', keywords: ['deploy', 'incident'], dnd_until: null, dnd_schedule: null });
    expect(await user.api.get('/api/presence/me')).toMatchObject({ dnd_until: null, dnd_schedule: null });
  });

  test.each([
    ['empty body', {}, 'body'],
    ['unknown level', { level: 'loud' }, 'level'],
    ['too many keywords', { keywords: Array.from({ length: 51 }, (_unused, index) => `word${index}`) }, 'keywords'],
    ['keyword too long', { keywords: ['x'.repeat(65)] }, 'keywords/0'],
    ['blank keyword', { keywords: ['   '] }, 'keywords/0'],
    ['keyword with a control character', { keywords: ['bad\u0007word'] }, 'keywords/0'],
    ['bad schedule', { dnd_schedule: { start: '7:00', end: '09:00' } }, 'dnd_schedule/start'],
    ['unknown field', { sound: true }, 'sound'],
  ])('invalid preferences: %s', async (_name, body, field) => {
    const user = await buildUser(server.url, 'cai');
    expectError(await user.api.raw('PATCH', '/api/notifications/preferences', body), 400, 'VALIDATION_FAILED', field);
  });
});

describe('conversation notification settings', () => {
  test('override and mute', async () => {
    const owner = await buildUser(server.url, 'dee');
    const team = await buildTeam(owner);
    const path = `/api/conversations/${team.generalId}/notifications`;
    expect(await owner.api.get(path)).toEqual({ conversation_id: team.generalId, level: null, muted: false, effective_level: 'mentions' });
    expect(await owner.api.request('PUT', path, { level: 'none', muted: true })).toEqual({ conversation_id: team.generalId, level: 'none', muted: true, effective_level: 'none' });
    expect(await owner.api.request('PUT', path, { level: null })).toEqual({ conversation_id: team.generalId, level: null, muted: true, effective_level: 'mentions' });
  });

  test('only members may read or change them', async () => {
    const owner = await buildUser(server.url, 'eli');
    const member = await buildUser(server.url, 'fin');
    const outsider = await buildUser(server.url, 'gil');
    const team = await buildTeam(owner, [member]);
    await buildTeam(outsider);
    const privateChannel = await buildChannel(owner, team.id, { private: true, members: [member] });
    const publicChannel = await buildChannel(owner, team.id);
    const otherTeam = await buildUser(server.url, 'hal');
    const foreign = await buildTeam(otherTeam);

    // A user of another team, and a teammate outside a private channel, see nothing.
    expectError(await outsider.api.raw('GET', `/api/conversations/${team.generalId}/notifications`), 404, 'CONVERSATION_NOT_FOUND');
    expectError(await owner.api.raw('PUT', `/api/conversations/${foreign.generalId}/notifications`, { muted: true }), 404, 'CONVERSATION_NOT_FOUND');
    // A teammate who has not joined a public channel must join first.
    expectError(await member.api.raw('PUT', `/api/conversations/${publicChannel.id}/notifications`, { muted: true }), 403, 'NOT_IN_CONVERSATION');
    // A removed member loses access.
    expect((await member.api.raw('GET', `/api/conversations/${privateChannel.id}/notifications`)).status).toBe(200);
    await owner.api.delete(`/api/conversations/${privateChannel.id}/members/${member.id}`);
    expectError(await member.api.raw('PUT', `/api/conversations/${privateChannel.id}/notifications`, { muted: true }), 404, 'CONVERSATION_NOT_FOUND');
  });

  test.each([
    ['empty body', {}, 'body'],
    ['unknown level', { level: 'some' }, 'level'],
    ['muted not a boolean', { muted: 'yes' }, 'muted'],
    ['unknown field', { snooze: 5 }, 'snooze'],
  ])('invalid settings: %s', async (_name, body, field) => {
    const owner = await buildUser(server.url, 'ivy');
    const team = await buildTeam(owner);
    expectError(await owner.api.raw('PUT', `/api/conversations/${team.generalId}/notifications`, body), 400, 'VALIDATION_FAILED', field);
  });

  test('bad conversation id names the parameter', async () => {
    const owner = await buildUser(server.url, 'jon');
    expectError(await owner.api.raw('GET', '/api/conversations/nope/notifications'), 400, 'VALIDATION_FAILED', 'conversationId');
  });
});
