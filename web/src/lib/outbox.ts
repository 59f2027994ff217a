import { ApiError } from '../../../src/client/api.js';
import type { FileAttachmentView } from '../../../src/client/state.js';

/**
 * Messages the user sent that the server has not acknowledged yet. Each
 * entry keeps the client_msg_id it was first sent with, so a retry after a
 * lost response returns the stored message instead of posting it twice.
 */
export interface OutboxEntry {
  clientMsgId: string;
  conversationId: string;
  threadRootId: string | null;
  alsoInChannel: boolean;
  text: string;
  /** Uploaded files the message attaches through file_ids. */
  files: FileAttachmentView[];
  status: 'sending' | 'failed';
  /** Reason the last attempt failed, shown to the user. */
  error: string | undefined;
  /** False for a rejection that sending again cannot fix, such as a message that is too long. */
  retryable: boolean;
  createdAt: number;
}

export interface OutboxOptions {
  post: (entry: OutboxEntry) => Promise<void>;
  changed: () => void;
}

export class Outbox {
  entries: OutboxEntry[] = [];
  readonly #options: OutboxOptions;

  constructor(options: OutboxOptions) {
    this.#options = options;
  }

  add(message: Pick<OutboxEntry, 'conversationId' | 'text' | 'threadRootId' | 'alsoInChannel' | 'files'>): OutboxEntry {
    const entry: OutboxEntry = {
      ...message,
      clientMsgId: crypto.randomUUID(),
      status: 'sending',
      error: undefined,
      retryable: true,
      createdAt: Date.now(),
    };
    this.entries = [...this.entries, entry];
    void this.#attempt(entry);
    return entry;
  }

  /** Sends one failed entry again, with its original client_msg_id. */
  retry(clientMsgId: string): void {
    const entry = this.entries.find((candidate) => candidate.clientMsgId === clientMsgId);
    if (entry !== undefined && entry.status === 'failed') void this.#attempt(entry);
  }

  /** Sends every failed entry that may succeed on a second try; called after each reconnect. */
  retryAll(): void {
    for (const entry of this.entries) {
      if (entry.status === 'failed' && entry.retryable) void this.#attempt(entry);
    }
  }

  discard(clientMsgId: string): void {
    this.entries = this.entries.filter((entry) => entry.clientMsgId !== clientMsgId);
    this.#options.changed();
  }

  /** Drops the entry whose message the server stored, as seen in an acknowledgement or a message.posted event. */
  delivered(clientMsgId: string): void {
    if (!this.entries.some((entry) => entry.clientMsgId === clientMsgId)) return;
    this.entries = this.entries.filter((entry) => entry.clientMsgId !== clientMsgId);
    this.#options.changed();
  }

  clear(): void {
    this.entries = [];
  }

  pendingIn(conversationId: string, threadRootId: string | null): OutboxEntry[] {
    return this.entries.filter((entry) => entry.conversationId === conversationId && entry.threadRootId === threadRootId);
  }

  async #attempt(entry: OutboxEntry): Promise<void> {
    this.#replace(entry, { status: 'sending', error: undefined });
    try {
      await this.#options.post(entry);
      this.delivered(entry.clientMsgId);
    } catch (error) {
      // A 4xx other than 429 is the server's final response; no response, 429 and 5xx may succeed later.
      const final = error instanceof ApiError && error.status < 500 && error.status !== 429;
      const reason = error instanceof ApiError ? error.message.replace(/^\d+ [A-Z_]+: /, '') : 'no connection to the server';
      this.#replace(entry, { status: 'failed', error: reason, retryable: !final });
    }
  }

  #replace(entry: OutboxEntry, change: Partial<OutboxEntry>): void {
    if (!this.entries.some((candidate) => candidate.clientMsgId === entry.clientMsgId)) return;
    Object.assign(entry, change);
    this.entries = [...this.entries];
    this.#options.changed();
  }
}
