import net from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { waitUntil } from '../helpers/realtime.js';
import { MAX_HELD_BYTES, WriteBatch } from '../../src/realtime/write-batch.js';

/**
 * The batch corks real TCP sockets on 127.0.0.1. The write calls are counted
 * at the socket's `_write` and `_writev`, which Node calls once per write it
 * hands to the operating system.
 */

interface Pair {
  server: net.Socket;
  received: () => string;
  writeCalls: () => number;
  close: () => void;
}

const open: Pair[] = [];
afterEach(() => {
  for (const pair of open.splice(0)) pair.close();
});

async function openPair(): Promise<Pair> {
  const listener = net.createServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve));
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  const server = await accepted;

  let text = '';
  client.on('data', (chunk: Buffer) => (text += chunk.toString()));
  let calls = 0;
  const counted = server as unknown as { _write: (...args: unknown[]) => void; _writev: (...args: unknown[]) => void };
  const write = counted._write.bind(server);
  const writev = counted._writev.bind(server);
  counted._write = (...args) => {
    calls += 1;
    write(...args);
  };
  counted._writev = (...args) => {
    calls += 1;
    writev(...args);
  };

  const pair = {
    server,
    received: () => text,
    writeCalls: () => calls,
    close: () => {
      client.destroy();
      server.destroy();
      listener.close();
    },
  };
  open.push(pair);
  return pair;
}

/** Runs `turn` in one callback, then waits until the batch's process.nextTick flush has run. */
async function inOneTurn(turn: () => void): Promise<void> {
  await new Promise<void>((resolve) =>
    setImmediate(() => {
      turn();
      setImmediate(resolve);
    }),
  );
}

/** Writes one frame as the gateway does: hold, write, limit. */
function send(batch: WriteBatch, socket: net.Socket, frame: string): void {
  batch.hold(socket);
  socket.write(frame);
  batch.limit(socket);
}

test('frames of one turn share a write', async () => {
  const batch = new WriteBatch();
  const first = await openPair();
  const second = await openPair();

  await inOneTurn(() => {
    for (let index = 0; index < 10; index += 1) {
      send(batch, first.server, `a${index};`);
      send(batch, second.server, `b${index};`);
    }
  });
  const expectedFirst = Array.from({ length: 10 }, (_unused, index) => `a${index};`).join('');
  const expectedSecond = Array.from({ length: 10 }, (_unused, index) => `b${index};`).join('');
  await waitUntil(() => first.received() === expectedFirst && second.received() === expectedSecond, 5000, 'the frames');

  expect(first.writeCalls()).toBe(1);
  expect(second.writeCalls()).toBe(1);
  expect(first.server.writableCorked).toBe(0);
  expect(second.server.writableCorked).toBe(0);
});

test('frames of later turns write again', async () => {
  const batch = new WriteBatch();
  const pair = await openPair();

  await inOneTurn(() => send(batch, pair.server, 'one;'));
  await inOneTurn(() => send(batch, pair.server, 'two;'));
  await waitUntil(() => pair.received() === 'one;two;', 5000, 'both frames');

  expect(pair.writeCalls()).toBe(2);
});

test('held bytes past the maximum write within the turn', async () => {
  const batch = new WriteBatch();
  const pair = await openPair();
  const frame = 'x'.repeat(1024);
  const frames = Math.ceil((2 * MAX_HELD_BYTES) / frame.length) + 1;

  let callsWithinTurn = 0;
  let heldWithinTurn = 0;
  await inOneTurn(() => {
    for (let index = 0; index < frames; index += 1) {
      send(batch, pair.server, frame);
      heldWithinTurn = Math.max(heldWithinTurn, pair.server.writableCorked === 0 ? 0 : pair.server.writableLength);
    }
    callsWithinTurn = pair.writeCalls();
  });
  await waitUntil(() => pair.received().length === frames * frame.length, 5000, 'every frame');

  // Node counts a write that the kernel has not finished as still queued, so the bound holds only once
  // the kernel took the earlier writes, as it does on an idle loopback connection.
  expect(callsWithinTurn).toBeGreaterThanOrEqual(2);
  expect(heldWithinTurn).toBeLessThan(MAX_HELD_BYTES + frame.length);
  expect(pair.server.writableCorked).toBe(0);
});

test('socket ended within the turn', async () => {
  const batch = new WriteBatch();
  const pair = await openPair();
  const other = await openPair();

  await inOneTurn(() => {
    send(batch, pair.server, 'last;');
    pair.server.end();
    send(batch, other.server, 'still sent;');
  });
  await waitUntil(() => pair.received() === 'last;' && other.received() === 'still sent;', 5000, 'both frames');

  expect(other.writeCalls()).toBe(1);
  expect(other.server.writableCorked).toBe(0);
});
