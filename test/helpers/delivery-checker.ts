import { expect } from 'vitest';
import type { ApiClient } from '../../src/client/api.js';
import type { EventFrame } from '../../src/client/realtime.js';
import { waitUntil } from './realtime.js';

/** A message the API acknowledged: from that moment on it counts as sent. */
export interface AcknowledgedMessage {
  conversationId: string;
  id: string;
  seq: number;
}

/** Hooks to pass to a member's RealtimeClient. */
export interface TrackedMember {
  onEvent: (event: EventFrame) => void;
  onResync: (stream: string) => void;
}

export interface DeliveryReport {
  /** Member and message pairs: acknowledged, never received. */
  lost: number;
  /** Message deliveries beyond the first of each message to a member. */
  doubled: number;
  /** Events whose seq was not above the previous one of their stream for that member. */
  reordered: number;
  /** Places where a member's stream skipped a seq. */
  gaps: number;
  /** The first problems found, for the failure message. */
  problems: string[];
}

interface Received {
  seq: number;
  messageId: string | undefined;
  via: 'socket' | 'history';
}

interface Member {
  name: string;
  conversationIds: Set<string>;
  api: ApiClient | undefined;
  /** Per conversation, what reached the member, in arrival order. */
  received: Map<string, Received[]>;
  resynced: Set<string>;
  /** Ids of the messages received, from either source. */
  seen: Set<string>;
}

const MAX_PROBLEMS = 10;

/**
 * Checks "nothing lost, nothing doubled" for a fault test: every acknowledged
 * message reaches every member of its conversation exactly once, and each
 * member sees its conversation streams in seq order without gaps. A member
 * whose stream was resynced (the server could no longer replay it) fills it
 * from the history API, as a real client does.
 */
export class DeliveryChecker {
  readonly #acknowledged = new Map<string, AcknowledgedMessage>();
  readonly #byConversation = new Map<string, AcknowledgedMessage[]>();
  readonly #members = new Map<string, Member>();
  /** Resync frames received by all members; each means the server could no longer replay a stream. */
  resyncs = 0;

  /** Tracks a member of the given conversations; `api` is needed only to fill resynced streams from history. */
  addMember(name: string, conversationIds: string[], api?: ApiClient): TrackedMember {
    const member: Member = { name, conversationIds: new Set(conversationIds), api, received: new Map(), resynced: new Set(), seen: new Set() };
    this.#members.set(name, member);
    return {
      onEvent: (event) => this.#record(member, event),
      onResync: (stream) => {
        this.resyncs += 1;
        member.resynced.add(stream);
      },
    };
  }

  acknowledged(message: AcknowledgedMessage): void {
    if (this.#acknowledged.has(message.id)) return;
    this.#acknowledged.set(message.id, message);
    const list = this.#byConversation.get(message.conversationId) ?? [];
    list.push(message);
    this.#byConversation.set(message.conversationId, list);
  }

  get acknowledgedCount(): number {
    return this.#acknowledged.size;
  }

  /** Ids of the messages acknowledged so far, to wait for later with pending(). */
  acknowledgedIds(): Set<string> {
    return new Set(this.#acknowledged.keys());
  }

  /** Member and message pairs still waiting for delivery, counting only the messages in `among` when given. */
  pending(among?: ReadonlySet<string>): number {
    let pending = 0;
    for (const member of this.#members.values()) {
      for (const message of this.#missing(member)) if (among === undefined || among.has(message.id)) pending += 1;
    }
    return pending;
  }

  /** Waits until every member has every acknowledged message; returns the milliseconds waited. */
  async waitForAll(timeoutMs: number): Promise<number> {
    const started = Date.now();
    await this.fillFromHistory();
    await waitUntil(() => this.pending() === 0, timeoutMs, `every acknowledged message at every member (${this.pending()} missing)`).catch(
      (error: unknown) => {
        // The report names what is missing, which is more useful than the timeout alone.
        const report = this.report();
        throw new Error(`${(error as Error).message}: ${report.problems.join('; ')}`);
      },
    );
    return Date.now() - started;
  }

  /** Reads the history of every resynced stream, as a client does after a resync frame. */
  async fillFromHistory(): Promise<void> {
    for (const member of this.#members.values()) {
      for (const stream of member.resynced) {
        if (!stream.startsWith('c:') || member.api === undefined) continue;
        const conversationId = stream.slice(2);
        const page = await member.api.get<{ messages: Array<{ id: string; seq: number }> }>(`/api/conversations/${conversationId}/messages?limit=200`);
        const received = this.#streamOf(member, conversationId);
        const known = new Set(received.map((entry) => entry.seq));
        for (const message of page.messages) {
          if (known.has(message.seq)) continue;
          received.push({ seq: message.seq, messageId: message.id, via: 'history' });
          member.seen.add(message.id);
        }
        received.sort((a, b) => a.seq - b.seq);
      }
      member.resynced.clear();
    }
  }

  report(): DeliveryReport {
    const report: DeliveryReport = { lost: 0, doubled: 0, reordered: 0, gaps: 0, problems: [] };
    const note = (problem: string) => {
      if (report.problems.length < MAX_PROBLEMS) report.problems.push(problem);
    };

    for (const member of this.#members.values()) {
      for (const message of this.#missing(member)) {
        report.lost += 1;
        note(`${member.name} lacks seq ${message.seq} of ${message.conversationId}`);
      }
      for (const [conversationId, received] of member.received) {
        const counts = new Map<string, number>();
        for (const [index, entry] of received.entries()) {
          if (entry.messageId !== undefined) counts.set(entry.messageId, (counts.get(entry.messageId) ?? 0) + 1);
          const previous = received[index - 1];
          if (previous === undefined) continue;
          if (entry.seq <= previous.seq) {
            report.reordered += 1;
            note(`${member.name} got seq ${entry.seq} of ${conversationId} after ${previous.seq}`);
          } else if (entry.via === 'socket' && previous.via === 'socket' && entry.seq !== previous.seq + 1) {
            report.gaps += 1;
            note(`${member.name} skipped from seq ${previous.seq} to ${entry.seq} of ${conversationId}`);
          }
        }
        for (const [messageId, count] of counts) {
          if (count === 1) continue;
          report.doubled += count - 1;
          note(`${member.name} got message ${messageId} ${count} times`);
        }
      }
    }
    return report;
  }

  /** Asserts that nothing was lost, doubled, reordered or skipped. */
  verify(): DeliveryReport {
    const report = this.report();
    const detail = report.problems.join('; ');
    expect(report.lost, detail).toBe(0);
    expect(report.doubled, detail).toBe(0);
    expect(report.reordered, detail).toBe(0);
    expect(report.gaps, detail).toBe(0);
    return report;
  }

  #record(member: Member, event: EventFrame): void {
    if (!event.stream.startsWith('c:')) return;
    const conversationId = event.stream.slice(2);
    if (!member.conversationIds.has(conversationId)) return;
    const message = event.event === 'message.posted' ? (event.data.message as { id: string }) : undefined;
    this.#streamOf(member, conversationId).push({ seq: event.seq, messageId: message?.id, via: 'socket' });
    if (message !== undefined) member.seen.add(message.id);
  }

  #streamOf(member: Member, conversationId: string): Received[] {
    let received = member.received.get(conversationId);
    if (received === undefined) {
      received = [];
      member.received.set(conversationId, received);
    }
    return received;
  }

  #missing(member: Member): AcknowledgedMessage[] {
    const missing: AcknowledgedMessage[] = [];
    for (const conversationId of member.conversationIds) {
      for (const message of this.#byConversation.get(conversationId) ?? []) {
        if (!member.seen.has(message.id)) missing.push(message);
      }
    }
    return missing;
  }
}
