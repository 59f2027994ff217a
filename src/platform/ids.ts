import { randomFillSync } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';

/**
 * Random bytes drawn from the operating system at once: those of 256 ids. Node's
 * crypto.getRandomValues, which uuid calls for every id, cost about 3% of the server's busy time
 * while posting (CPU profile of `node dist/bench/main.js storage`).
 */
const RANDOM_POOL_BYTES = 4096;
const randomPool = Buffer.alloc(RANDOM_POOL_BYTES);
let randomPoolOffset = RANDOM_POOL_BYTES;

/** Millisecond and counter of the last id, so that ids of one millisecond still sort in creation order. */
let lastMs = -Infinity;
let lastSequence = 0;

/** Returns 16 bytes of the pool that no other id used, refilling the pool when it is spent. */
function takeRandomBytes(): Uint8Array {
  if (randomPoolOffset + 16 > RANDOM_POOL_BYTES) {
    randomFillSync(randomPool);
    randomPoolOffset = 0;
  }
  const bytes = randomPool.subarray(randomPoolOffset, randomPoolOffset + 16);
  randomPoolOffset += 16;
  return bytes;
}

/**
 * Creates a new identifier for any stored object: a UUID version 7 (RFC 9562), whose first 48
 * bits are the creation time in milliseconds and whose other 74 bits are random. New ids sort
 * after older ones, so B-tree indexes on them grow at their right edge instead of splitting pages
 * all over, and an id reveals when its object was created. Ids are not secrets: tokens come from
 * createSecret.
 *
 * The ids of one millisecond carry a counter, as uuid's own v7 does without options (uuid 14). A
 * new millisecond seeds it from 31 random bits, and each further id adds one. When the counter
 * wraps, the ids move on to the next millisecond.
 */
export function newId(): string {
  const random = takeRandomBytes();
  const now = Date.now();
  if (now > lastMs) {
    lastMs = now;
    lastSequence = ((random[6]! & 0x7f) << 24) | (random[7]! << 16) | (random[8]! << 8) | random[9]!;
  } else {
    lastSequence = (lastSequence + 1) | 0;
    if (lastSequence === 0) lastMs += 1;
  }
  return uuidv7({ random, msecs: lastMs, seq: lastSequence });
}

/** The shape of every id, for route schemas. */
export const ID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
