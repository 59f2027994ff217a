/**
 * Closed-loop posting over one authenticated ChatterBox WebSocket: `post`
 * frames with ids, each finished by its `ack` frame, which the server sends
 * after the message's commit, or by an `error` frame with the same id.
 */
import type WebSocket from 'ws';
import type { ClosedLoopResult } from './http-load.js';
import { LatencyHistogram } from './stats.js';

/** Starts of the `ack` and `error` frames sent in reply to a `post` frame. The server writes `type` first. */
export const ACK_PREFIX = Buffer.from('{"type":"ack"');
export const ERROR_PREFIX = Buffer.from('{"type":"error"');

/** Post frame ids, unique per process so a late ack of one loop never completes a post of the next. */
let lastPostId = 0;

/**
 * Keeps `concurrency` post frames in flight on `socket` for `durationMs`,
 * sending the next post when an ack or error arrives. Posts still unanswered
 * `graceMs` after the duration count as errors.
 */
export function runSocketPostLoop(
  socket: WebSocket,
  conversationId: string,
  concurrency: number,
  durationMs: number,
  text: (index: number) => string,
  graceMs = 10_000,
): Promise<ClosedLoopResult> {
  return new Promise((resolve) => {
    const histogram = new LatencyHistogram();
    const sentAt = new Map<number, number>();
    let count = 0;
    let errors = 0;
    let issued = 0;
    let firstError: string | undefined;
    const started = performance.now();
    const deadline = started + durationMs;

    const finish = () => {
      clearTimeout(graceTimer);
      socket.off('message', onMessage);
      socket.off('close', onClose);
      errors += sentAt.size;
      if (sentAt.size > 0) firstError ??= `${sentAt.size} posts unanswered ${graceMs} ms after the loop ended`;
      sentAt.clear();
      const elapsedS = (performance.now() - started) / 1000;
      resolve({ count, errors, perSecond: count / elapsedS, latency: histogram.summary(), firstError });
    };

    const sendNext = () => {
      lastPostId += 1;
      sentAt.set(lastPostId, performance.now());
      socket.send(JSON.stringify({ type: 'post', id: lastPostId, conversation_id: conversationId, text: text(issued) }));
      issued += 1;
    };

    function onMessage(data: Buffer): void {
      // The author's socket also receives its own room's events; only acks and errors end a post.
      const isAck = data.subarray(0, ACK_PREFIX.length).equals(ACK_PREFIX);
      if (!isAck && !data.subarray(0, ERROR_PREFIX.length).equals(ERROR_PREFIX)) return;
      const frame = JSON.parse(data.toString()) as { id?: number; error?: { code?: string; message?: string } };
      const postedAt = frame.id === undefined ? undefined : sentAt.get(frame.id);
      if (postedAt === undefined) return;
      sentAt.delete(frame.id!);
      if (isAck) {
        count += 1;
        histogram.record(performance.now() - postedAt);
      } else {
        errors += 1;
        firstError ??= `post ${frame.id} rejected: ${frame.error?.code ?? 'no code'} ${frame.error?.message ?? ''}`;
      }
      if (performance.now() < deadline) sendNext();
      else if (sentAt.size === 0) finish();
    }

    function onClose(code: number): void {
      firstError ??= `socket closed with code ${code} during the post loop`;
      finish();
    }

    const graceTimer = setTimeout(finish, durationMs + graceMs);
    socket.on('message', onMessage);
    socket.once('close', onClose);
    for (let slot = 0; slot < concurrency; slot += 1) sendNext();
  });
}
