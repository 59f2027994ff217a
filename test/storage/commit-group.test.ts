import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CommitGroup, MAX_KEYED_GROUP_UNITS } from '../../src/storage/commit-group.js';
import type { Tx } from '../../src/storage/database.js';
import type { DeferredWrites } from '../../src/storage/deferred-writes.js';
import type { EventWriter } from '../../src/storage/streams.js';
import { WriteBehindError } from '../../src/storage/write-behind.js';
import { startServer, type TestServer } from '../helpers/server.js';

// Runs on SQLite, or on PostgreSQL when TEST_DATABASE_URL is set, like every storage test.
// Units passed to run() in one synchronous block always share one group.

let server: TestServer;
let counter = 0;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());

function newGroup(keyed: boolean): CommitGroup {
  const { db, dialect } = server.server.ctx.storage;
  return new CommitGroup(db, dialect, () => Date.now(), { keyed });
}

function newStream(): `c:${string}` {
  counter += 1;
  return `c:group-test-${counter}-${Date.now()}`;
}

async function storedSeqs(stream: string): Promise<number[]> {
  const rows = await server.server.ctx.storage.db.selectFrom('events').select('seq').where('stream_id', '=', stream).orderBy('seq').execute();
  return rows.map((row) => Number(row.seq));
}

async function lastSeq(stream: string): Promise<number | undefined> {
  const row = await server.server.ctx.storage.db.selectFrom('streams').select('last_seq').where('id', '=', stream).executeTakeFirst();
  return row === undefined ? undefined : Number(row.last_seq);
}

/** Builds a unit that appends `count` events to `stream`, counts its runs and then throws `failure` if given. */
function appending(stream: `c:${string}`, count: number, runs: { count: number }, failure?: Error) {
  return async (_tx: Tx, events: EventWriter) => {
    runs.count += 1;
    const seqs: number[] = [];
    for (let index = 0; index < count; index += 1) seqs.push((await events.append(stream, 'message.posted', { index })).seq);
    if (failure !== undefined) throw failure;
    return seqs;
  };
}

describe.each([
  ['keyed', true],
  ['unkeyed', false],
])('commit group, %s', (_name, keyed) => {
  test('units share one gap-free sequence', async () => {
    const group = newGroup(keyed);
    const stream = newStream();
    const runs = { count: 0 };

    const outcomes = await Promise.all([1, 2, 3].map(() => group.run(appending(stream, 2, runs), stream)));

    expect(outcomes.map((outcome) => outcome.result)).toEqual([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    expect(outcomes.map((outcome) => outcome.events.events.map((event) => event.seq))).toEqual([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    expect(await storedSeqs(stream)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await lastSeq(stream)).toBe(6);
  });

  test('failed unit rejects alone and frees its numbers', async () => {
    const group = newGroup(keyed);
    const stream = newStream();
    const first = { count: 0 };
    const failing = { count: 0 };
    const last = { count: 0 };
    const failure = new Error('unit failed on purpose');

    const settled = await Promise.allSettled([
      group.run(appending(stream, 2, first), stream),
      group.run(appending(stream, 1, failing, failure), stream),
      group.run(appending(stream, 1, last), stream),
    ]);

    expect(settled[0]).toMatchObject({ status: 'fulfilled', value: { result: [1, 2] } });
    expect(settled[1]).toEqual({ status: 'rejected', reason: failure });
    expect(settled[2]).toMatchObject({ status: 'fulfilled', value: { result: [3] } });
    expect(await storedSeqs(stream)).toEqual([1, 2, 3]);
    expect(await lastSeq(stream)).toBe(3);
    expect(failing.count).toBe(1);
    // Keyed, the group first runs without savepoints, so the unit before the failed one runs again.
    expect(first.count).toBe(keyed ? 2 : 1);
    expect(last.count).toBe(1);
  });

  test('two failed units in one group', async () => {
    const group = newGroup(keyed);
    const stream = newStream();
    const runs = Array.from({ length: 5 }, () => ({ count: 0 }));
    const failures = [new Error('first failure'), new Error('second failure')];

    const settled = await Promise.allSettled([
      group.run(appending(stream, 1, runs[0]!), stream),
      group.run(appending(stream, 1, runs[1]!, failures[0]), stream),
      group.run(appending(stream, 1, runs[2]!), stream),
      group.run(appending(stream, 2, runs[3]!, failures[1]), stream),
      group.run(appending(stream, 1, runs[4]!), stream),
    ]);

    expect(settled.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
    expect(settled[1]).toEqual({ status: 'rejected', reason: failures[0] });
    expect(settled[3]).toEqual({ status: 'rejected', reason: failures[1] });
    expect(settled[4]).toMatchObject({ status: 'fulfilled', value: { result: [3] } });
    expect(await storedSeqs(stream)).toEqual([1, 2, 3]);
    expect(await lastSeq(stream)).toBe(3);
  });

  test('failed statement rolls back its unit only', async () => {
    const group = newGroup(keyed);
    const stream = newStream();
    const runs = { count: 0 };
    // Inserting an event that exists already fails in the database, after the unit took a number.
    const duplicate = async (tx: Tx, events: EventWriter) => {
      await events.append(stream, 'message.posted', { duplicate: true });
      await tx.insertInto('events').values({ stream_id: stream, seq: 1, type: 'message.posted', payload: '{}', created_at: 0 }).execute();
    };

    const settled = await Promise.allSettled([
      group.run(appending(stream, 1, runs), stream),
      group.run(duplicate, stream),
      group.run(appending(stream, 1, runs), stream),
    ]);

    expect(settled.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(server.server.ctx.storage.dialect.isUniqueViolation((settled[1] as PromiseRejectedResult).reason)).toBe(true);
    expect(settled[2]).toMatchObject({ status: 'fulfilled', value: { result: [2] } });
    expect(await storedSeqs(stream)).toEqual([1, 2]);
    expect(await lastSeq(stream)).toBe(2);
  });

  test('failed write sent behind rejects its unit only', async () => {
    const group = newGroup(keyed);
    const stream = newStream();
    const runs = { count: 0 };
    // The duplicate joins the event's own insert, which a keyed group on PostgreSQL sends behind,
    // so its error surfaces only at the COMMIT, after every unit ran.
    const duplicate = async (tx: Tx, events: EventWriter) => {
      const insert = tx.insertInto('events').values({ stream_id: stream, seq: 1, type: 'message.posted', payload: '{}', created_at: 0 }).compile();
      await events.appendWith(stream, 'message.posted', () => ({ data: { duplicate: true }, statements: [insert] }));
    };

    const settled = await Promise.allSettled([
      group.run(appending(stream, 1, runs), stream),
      group.run(duplicate, stream),
      group.run(appending(stream, 1, runs), stream),
    ]);

    expect(settled.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const reason = (settled[1] as PromiseRejectedResult).reason;
    expect(reason).not.toBeInstanceOf(WriteBehindError);
    expect(server.server.ctx.storage.dialect.isUniqueViolation(reason)).toBe(true);
    expect(settled[2]).toMatchObject({ status: 'fulfilled', value: { result: [2] } });
    expect(await storedSeqs(stream)).toEqual([1, 2]);
    expect(await lastSeq(stream)).toBe(2);
  });

  test('rejected group leaves no stream row', async () => {
    const group = newGroup(keyed);
    const stream = newStream();
    const failure = new Error('denied on purpose');
    const denied = async () => {
      throw failure;
    };

    // Two units, so that a keyed group commits a second run of the other after the first fails.
    const settled = await Promise.allSettled([group.run(denied, stream), group.run(denied, stream)]);

    expect(settled.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected']);
    expect(await lastSeq(stream)).toBeUndefined();
  });

  test('keys of other streams in one group', async () => {
    const group = newGroup(keyed);
    const streams = [newStream(), newStream()];
    const runs = { count: 0 };

    const outcomes = await Promise.all([
      group.run(appending(streams[0]!, 1, runs), streams[0]),
      group.run(appending(streams[1]!, 1, runs), streams[1]),
      group.run(appending(streams[0]!, 1, runs), streams[0]),
    ]);

    expect(outcomes.map((outcome) => outcome.result)).toEqual([[1], [1], [2]]);
    expect(await storedSeqs(streams[0]!)).toEqual([1, 2]);
    expect(await storedSeqs(streams[1]!)).toEqual([1]);
  });

  test('deferred writes run last, in order', async () => {
    const group = newGroup(keyed);
    const stream = newStream();
    const ran: string[] = [];
    // Each deferred write stores an event, so it must run inside the group's transaction.
    const deferring = (name: string, writes: Array<[key: string, order: number]>, failure?: Error) => async (_tx: Tx, _events: EventWriter, _now: number, deferred: DeferredWrites) => {
      for (const [key, order] of writes) {
        deferred.add(key, order, async (deferredTx) => {
          ran.push(`${name}:${key}`);
          await deferredTx.insertInto('events').values({ stream_id: stream, seq: order, type: 'message.posted', payload: JSON.stringify({ name }), created_at: 0 }).execute();
        });
      }
      if (failure !== undefined) throw failure;
      return name;
    };
    const failure = new Error('unit failed on purpose');

    const settled = await Promise.allSettled([
      group.run(deferring('a', [['x', 30], ['y', 10]]), stream),
      group.run(deferring('b', [['z', 40]], failure), stream),
      group.run(deferring('c', [['x', 20]]), stream),
    ]);

    expect(settled.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    // Keyed, the first run without savepoints stops at the failed unit and ran nothing deferred.
    expect(ran).toEqual(['a:y', 'c:x']);
    expect(settled[0]).toMatchObject({ status: 'fulfilled', value: { result: 'a' } });
    expect(await storedSeqs(stream)).toEqual([10, 20]);
  });
});

test('keyed group splits past its maximum', async () => {
  const { db, dialect } = server.server.ctx.storage;
  let transactions = 0;
  // Each group reads the clock once, so the `now` a unit receives numbers its group.
  const group = new CommitGroup(db, dialect, () => ++transactions, { keyed: true });
  const stream = newStream();
  const units = MAX_KEYED_GROUP_UNITS + 6;

  const outcomes = await Promise.all(
    Array.from({ length: units }, () =>
      group.run(async (_tx, events, now) => ({ seq: (await events.append(stream, 'message.posted', {})).seq, groupNumber: now }), stream),
    ),
  );

  expect(outcomes.map((outcome) => outcome.result.seq)).toEqual(Array.from({ length: units }, (_, index) => index + 1));
  expect(outcomes.filter((outcome) => outcome.result.groupNumber === 1)).toHaveLength(MAX_KEYED_GROUP_UNITS);
  expect(outcomes.filter((outcome) => outcome.result.groupNumber === 2)).toHaveLength(6);
  expect(await lastSeq(stream)).toBe(units);
});
