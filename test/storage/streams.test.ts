import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EventWriter, listEventsAfterEach } from '../../src/storage/streams.js';
import { startServer, type TestServer } from '../helpers/server.js';

// Reading several streams in one query, as a socket does when it starts.

describe('listEventsAfterEach', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startServer();
    await server.server.ctx.storage.db.transaction().execute(async (tx) => {
      const writer = new EventWriter(tx, Date.now(), server.server.ctx.storage.dialect);
      for (let index = 1; index <= 3; index += 1) await writer.append('u:reader-a', 'team.joined', { index });
      for (let index = 1; index <= 2; index += 1) await writer.append('u:reader-b', 'team.joined', { index });
    });
  });
  afterAll(async () => server.close());

  test('reads each stream after its position', async () => {
    const positions = new Map([
      ['u:reader-a', 1],
      ['u:reader-b', 0],
      ['u:reader-none', 0],
    ]);

    const pages = await listEventsAfterEach(server.server.ctx.storage.db, positions, 10);

    expect(pages.get('u:reader-a')?.map((event) => event.seq)).toEqual([2, 3]);
    expect(pages.get('u:reader-b')?.map((event) => event.seq)).toEqual([1, 2]);
    expect(pages.get('u:reader-b')?.[0]?.data).toEqual({ index: 1 });
    expect(pages.get('u:reader-none')).toEqual([]);
  });

  test('limits each stream to a page', async () => {
    const positions = new Map([
      ['u:reader-a', 0],
      ['u:reader-b', 0],
    ]);

    const pages = await listEventsAfterEach(server.server.ctx.storage.db, positions, 2);

    expect(pages.get('u:reader-a')?.map((event) => event.seq)).toEqual([1, 2]);
    expect(pages.get('u:reader-b')?.map((event) => event.seq)).toEqual([1, 2]);
  });
});
