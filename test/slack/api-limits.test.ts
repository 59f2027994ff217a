import { afterAll, beforeAll, expect, test } from 'vitest';
import { ErrorCode, LogLevel, WebClient } from '@slack/web-api';
import { buildTeam, buildUser, type TestTeam, type TestUser } from '../helpers/factories.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { buildBot } from './api-helpers.js';

let server: TestServer;
let owner: TestUser;
let team: TestTeam;

beforeAll(async () => {
  server = await startServer({ rateLimits: { postsPerUserPerMinute: 2 } });
  owner = await buildUser(server.url, 'owner');
  team = await buildTeam(owner);
});
afterAll(async () => server.close());

test('api post past the limit', async () => {
  const bot = await buildBot(owner, team.id);
  const slack = new WebClient(bot.token, { slackApiUrl: `${server.url}/api/slack/`, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, logLevel: LogLevel.ERROR });
  await slack.chat.postMessage({ channel: team.generalId, text: 'one' });
  await slack.chat.postMessage({ channel: team.generalId, text: 'two' });
  const error = await slack.chat.postMessage({ channel: team.generalId, text: 'three' }).then(
    () => undefined,
    (rejection: { code?: string; retryAfter?: number }) => rejection,
  );
  expect(error?.code).toBe(ErrorCode.RateLimitedError);
  expect(error?.retryAfter).toBeGreaterThan(0);
});

test('webhook post past the limit', async () => {
  const created = await owner.api.post<{ url: string }>(`/api/teams/${team.id}/webhooks`, { conversation_id: team.generalId, name: 'Busy' });
  const post = () => fetch(created.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'tick' }) });
  expect((await post()).status).toBe(200);
  expect((await post()).status).toBe(200);
  const limited = await post();
  expect([limited.status, await limited.text()]).toEqual([429, 'rate_limited']);
});
