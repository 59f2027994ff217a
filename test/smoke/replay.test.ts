import { afterAll, beforeAll, expect, test } from 'vitest';
import { defaultFixtureDir, replayConversation } from '../../scripts/smoke-replay.js';
import { startServer, type TestServer } from '../helpers/server.js';

// The first 200 messages of the sample contain 66 thread replies in 7 threads and come from 17 authors.
const MESSAGE_LIMIT = 200;

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());

test('IRC sample replay passes checks', { timeout: 120_000 }, async () => {
  const result = await replayConversation(server.url, server.wsUrl, defaultFixtureDir(), { messageLimit: MESSAGE_LIMIT, edits: 6, deletes: 5 });

  expect(result.failures).toEqual([]);
  expect(result.checks.length).toBe(5);
  expect(result.counts.messages).toBe(MESSAGE_LIMIT);
  expect(result.counts.replies).toBe(66);
  expect(result.counts.users).toBe(17);
  expect(result.counts.channels).toBe(2);
  expect(result.counts.edits).toBe(6);
  expect(result.counts.deletes).toBe(5);
  expect(result.counts.deliveries).toBe(MESSAGE_LIMIT * result.counts.users);
  expect(result.counts.editDeliveries).toBe(6 * result.counts.users);
  expect(result.counts.deleteDeliveries).toBe(5 * result.counts.users);
});
