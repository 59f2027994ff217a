/**
 * Message bodies of the load tests. Each carries a marker `~BX<index>@<sent µs>~`
 * that survives JSON encoding, so a receiver finds it in the raw frame bytes
 * without parsing the frame; the rest is padding up to the requested size.
 * The send time is in whole microseconds: with a decimal point, `BX1@1733…123.456`
 * would look like an email address, and ChatterBox would parse every message
 * as Markdown to look for links, which a typical message does not need.
 */
export const MESSAGE_BYTES = 1024;

const MARKER = Buffer.from('~BX');
const AT = 0x40; // '@'
const END = 0x7e; // '~'

export function buildPayload(index: number, sentAtMs: number, bytes = MESSAGE_BYTES): string {
  const head = `~BX${index}@${Math.round(sentAtMs * 1000)}~ `;
  return head + 'x'.repeat(Math.max(0, bytes - head.length));
}

/** Epoch milliseconds with sub-millisecond precision, comparable between processes on one machine. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export interface Marker {
  index: number;
  sentAtMs: number;
}

/** Finds the marker in a received frame, or returns undefined for frames without one. */
export function readMarker(frame: Buffer): Marker | undefined {
  const start = frame.indexOf(MARKER);
  if (start < 0) return undefined;
  let position = start + MARKER.length;
  let index = 0;
  while (frame[position] !== AT) {
    index = index * 10 + (frame[position]! - 48);
    position += 1;
  }
  const end = frame.indexOf(END, position);
  const sentAtMs = Number(frame.toString('latin1', position + 1, end)) / 1000;
  return { index, sentAtMs };
}
