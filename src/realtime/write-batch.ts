import type { Duplex } from 'node:stream';

/**
 * Bytes a socket may hold back within one turn before they are written
 * anyway. The slow-consumer checks count held-back bytes as queued, so the
 * batch adds less than this much to what they see.
 */
export const MAX_HELD_BYTES = 16 * 1024;

/**
 * Coalesces the frames sent to one socket in the same event-loop turn into
 * one write system call, where each frame took its own call before. The first
 * frame of a turn corks the socket, and one process.nextTick callback uncorks
 * every corked socket. Scheduled from a promise callback, as the fan-out after
 * a commit is, it runs once the microtask queue is empty. So the events of a
 * whole commit group and the acks of its posts leave each socket together.
 * Cork and uncork keep the order of the frames.
 */
export class WriteBatch {
  #held: Duplex[] = [];
  readonly #flush = (): void => {
    const sockets = this.#held;
    this.#held = [];
    // A socket that ended meanwhile was uncorked by end(), and uncork() on it does nothing.
    for (const socket of sockets) socket.uncork();
  };

  /** Corks `socket` until the end of the turn, unless this turn corked it already. Call it before each frame. */
  hold(socket: Duplex): void {
    // ws corks a socket only within one send, so a corked socket here was corked by this batch.
    if (socket.writableCorked > 0) return;
    if (this.#held.length === 0) process.nextTick(this.#flush);
    socket.cork();
    this.#held.push(socket);
  }

  /** Writes the bytes held on `socket` once they reach MAX_HELD_BYTES, and keeps it corked for the rest of the turn. Call it after each frame. */
  limit(socket: Duplex): void {
    if (socket.writableCorked === 0 || socket.writableLength < MAX_HELD_BYTES) return;
    socket.uncork();
    socket.cork();
  }
}
