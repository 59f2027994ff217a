import { LRUCache } from 'lru-cache';

/** A stream's `streams` row: its last seq and the lowest seq still stored. */
export interface StreamMark {
  lastSeq: number;
  minSeq: number;
}

interface CachedPage {
  limit: number;
  mark: StreamMark;
  body: Buffer;
}

/**
 * The encoded latest history page of recently read conversations, one page
 * per conversation, so that readers who open the same channel share one
 * read, presentation and JSON encoding of its messages.
 *
 * A page is valid for the position of the conversation's stream it was read
 * at. Every change a page shows (a post, edit, deletion, reaction, thread
 * reply, file update or import) appends an event to that stream in the same
 * transaction. So a reader that finds the stream at the same position finds
 * the same page. Retention purges change messages without an event. So the
 * purging node drops the conversation's page, and other nodes keep theirs
 * for at most `maxAgeMs`.
 */
export class LatestPageCache {
  readonly #pages: LRUCache<string, CachedPage> | undefined;
  #forgetCount = 0;

  /** `maxBytes` bounds the encoded pages kept; 0 turns the cache off. */
  constructor(options: { maxBytes: number; maxAgeMs: number }) {
    if (options.maxBytes <= 0) return;
    this.#pages = new LRUCache<string, CachedPage>({
      maxSize: options.maxBytes,
      sizeCalculation: (page) => Math.max(1, page.body.length),
      ttl: options.maxAgeMs,
    });
  }

  /** Returns the page of `limit` messages encoded at `mark`, or undefined when none is kept. */
  find(conversationId: string, limit: number, mark: StreamMark): Buffer | undefined {
    const page = this.#pages?.get(conversationId);
    if (page === undefined || page.limit !== limit) return undefined;
    if (page.mark.lastSeq !== mark.lastSeq || page.mark.minSeq !== mark.minSeq) return undefined;
    return page.body;
  }

  /** A value to pass to `store` for a page that is read after this call. */
  get generation(): number {
    return this.#forgetCount;
  }

  /**
   * Keeps a page read at `mark`, replacing the conversation's page of any size
   * unless that page was read at a later position. A page whose read began
   * before a `forget` of any conversation (`generation` has moved) is not kept,
   * since it may hold rows that a purge removed while it was read.
   */
  store(conversationId: string, limit: number, mark: StreamMark, body: Buffer, generation: number): void {
    if (generation !== this.#forgetCount) return;
    const kept = this.#pages?.peek(conversationId);
    if (kept !== undefined && kept.mark.lastSeq > mark.lastSeq) return;
    this.#pages?.set(conversationId, { limit, mark, body });
  }

  /** Drops the conversation's page, after a change that appended no event to its stream. */
  forget(conversationId: string): void {
    this.#forgetCount += 1;
    this.#pages?.delete(conversationId);
  }
}
