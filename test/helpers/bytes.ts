import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';

/** Chunk size of the generated streams; not a multiple of any file-format chunk, to shake out boundary bugs. */
const GENERATED_CHUNK_BYTES = 100_003;

/**
 * Streams `size` pseudo-random bytes that depend only on `seed`, without
 * holding them: AES-256-CTR over zeros with a key derived from the seed.
 */
export function generatedStream(size: number, seed = 'seed', chunkBytes = GENERATED_CHUNK_BYTES): Readable {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  let remaining = size;
  return new Readable({
    read() {
      if (remaining === 0) {
        this.push(null);
        return;
      }
      const length = Math.min(chunkBytes, remaining);
      remaining -= length;
      this.push(cipher.update(Buffer.alloc(length)));
    },
  });
}

/** Returns the same bytes as generatedStream in one buffer, for sizes that fit in memory. */
export function generatedBytes(size: number, seed = 'seed'): Buffer {
  const key = createHash('sha256').update(seed).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}

/** Reads a stream to its end and returns its length and hex SHA-256. */
export async function digestOf(stream: AsyncIterable<Buffer>): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { size, sha256: hash.digest('hex') };
}

/** Reads a stream whole into one buffer; for small streams only. */
export async function bytesOf(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Returns the length and hex SHA-256 of a generated stream, computed by streaming it once. */
export async function generatedDigest(size: number, seed = 'seed'): Promise<{ size: number; sha256: string }> {
  return digestOf(generatedStream(size, seed));
}
