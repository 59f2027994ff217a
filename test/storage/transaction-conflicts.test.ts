import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { commitWithEvents } from '../../src/platform/context.js';
import { AppError } from '../../src/platform/errors.js';
import { startServer, TEST_DATABASE_URL, type TestServer } from '../helpers/server.js';

// Only PostgreSQL reports deadlocks, because SQLite's single writer never conflicts.

describe.runIf(TEST_DATABASE_URL !== undefined)('transaction conflicts', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => server.close());

  // PostgreSQL's code for a transaction it rolled back to break a deadlock.
  const deadlock = () => Object.assign(new Error('deadlock detected'), { code: '40P01' });

  test('exhausted conflicts return UNAVAILABLE', async () => {
    let attempts = 0;
    const outcome = commitWithEvents(server.server.ctx, async () => {
      attempts += 1;
      throw deadlock();
    });

    const error = await outcome.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('UNAVAILABLE');
    expect(attempts).toBe(3);
  });

  test('exhausted grouped conflicts return UNAVAILABLE', async () => {
    const outcome = commitWithEvents(
      server.server.ctx,
      async () => {
        throw deadlock();
      },
      { groupKey: 'c:conflict-test', groupHint: 'nobody' },
    );

    const error = await outcome.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('UNAVAILABLE');
  });

  test('conflict then success commits', async () => {
    let attempts = 0;
    const result = await commitWithEvents(server.server.ctx, async () => {
      attempts += 1;
      if (attempts === 1) throw deadlock();
      return 'stored';
    });

    expect(result).toBe('stored');
    expect(attempts).toBe(2);
  });
});
