import type { ClientState } from '../src/client/state.js';

/** Events one member's socket received during a replay, with its client's counters. */
export interface DeliveryRecord {
  username: string;
  /** Ids of message.posted events, in arrival order. */
  postedIds: string[];
  /** Seq of each message.posted event, in arrival order. */
  postedSeqs: number[];
  /** Texts of the message.edited events received, by message id. */
  editedTexts: Map<string, string[]>;
  /** Number of message.deleted events received, by message id. */
  deletedCounts: Map<string, number>;
  /** The RealtimeClient's counters: repeated seqs dropped, seqs skipped, sockets opened. */
  duplicates: number;
  gaps: number;
  connections: number;
  /** Socket closes that happened before the replay stopped the client. */
  unexpectedCloses: Array<{ code: number; reason: string }>;
  /** Anything else the event handler found wrong, such as an event asking for a reload. */
  problems: string[];
}

/** The final state of one posted message as the HTTP API should return it. */
export interface ExpectedMessage {
  /** False for a deleted message that history omits: any deleted message except a root with live replies. */
  visible: boolean;
  text: string;
  deleted: boolean;
  threadRootId: string | null;
  replyCount: number;
}

/** Expected outcome of a replay: the events every member should receive and the final history. */
export interface ReplayExpectation {
  channelId: string;
  /** Ids of the posted messages in posting order. Posts were sequential, so this is also seq order. */
  postedIds: string[];
  /** New text of each edited message, by id. */
  edits: Map<string, string>;
  deletedIds: Set<string>;
  messages: Map<string, ExpectedMessage>;
}

/** Checks that one socket received every event of the replay exactly once and in order. Returns one line per failure. */
export function checkDeliveries(record: DeliveryRecord, expected: ReplayExpectation): string[] {
  const failures: string[] = [];
  const fail = (text: string) => failures.push(`${record.username}: ${text}`);

  const counts = countIds(record.postedIds);
  const missing = expected.postedIds.filter((id) => !counts.has(id));
  const repeated = [...counts].filter(([, count]) => count > 1).map(([id]) => id);
  const unknown = [...counts.keys()].filter((id) => !expected.messages.has(id));
  if (missing.length > 0) fail(`missing ${missing.length} message.posted events, first ${missing[0]}`);
  if (repeated.length > 0) fail(`${repeated.length} messages arrived in more than one message.posted event, first ${repeated[0]}`);
  if (unknown.length > 0) fail(`received ${unknown.length} message.posted events for messages the replay did not post`);
  if (missing.length === 0 && repeated.length === 0 && unknown.length === 0) {
    const firstOutOfOrder = record.postedIds.findIndex((id, index) => id !== expected.postedIds[index]);
    if (firstOutOfOrder !== -1) fail(`message.posted events out of posting order from position ${firstOutOfOrder}`);
  }
  const seqDrop = record.postedSeqs.findIndex((seq, index) => index > 0 && seq <= (record.postedSeqs[index - 1] ?? 0));
  if (seqDrop !== -1) fail(`message seq went down at event ${seqDrop}: ${record.postedSeqs[seqDrop - 1]} then ${record.postedSeqs[seqDrop]}`);

  for (const [id, text] of expected.edits) {
    const received = record.editedTexts.get(id) ?? [];
    if (received.length !== 1) fail(`received ${received.length} message.edited events for ${id}, expected 1`);
    else if (received[0] !== text) fail(`message.edited for ${id} carried ${JSON.stringify(received[0])}, expected ${JSON.stringify(text)}`);
  }
  const extraEdits = [...record.editedTexts.keys()].filter((id) => !expected.edits.has(id));
  if (extraEdits.length > 0) fail(`received message.edited for ${extraEdits.length} messages that were not edited`);

  for (const id of expected.deletedIds) {
    const received = record.deletedCounts.get(id) ?? 0;
    if (received !== 1) fail(`received ${received} message.deleted events for ${id}, expected 1`);
  }
  const extraDeletes = [...record.deletedCounts.keys()].filter((id) => !expected.deletedIds.has(id));
  if (extraDeletes.length > 0) fail(`received message.deleted for ${extraDeletes.length} messages that were not deleted`);

  if (record.duplicates > 0) fail(`the server sent ${record.duplicates} events whose seq the client had already seen`);
  if (record.gaps > 0) fail(`the server skipped seqs ${record.gaps} times`);
  if (record.connections !== 1) fail(`opened ${record.connections} sockets, expected 1 (the socket dropped and resumed)`);
  for (const close of record.unexpectedCloses) fail(`socket closed during the replay with code ${close.code} "${close.reason}"`);
  for (const problem of record.problems) fail(problem);
  return failures;
}

/** Checks the channel as fetched over HTTP against what the replay posted, edited and deleted. */
export function checkHistory(fresh: ClientState, expected: ReplayExpectation): string[] {
  const conversation = fresh.conversations[expected.channelId];
  if (conversation === undefined) return [`HTTP history: channel ${expected.channelId} is not in the fetched state`];

  const failures: string[] = [];
  const stored = conversation.messages;
  for (const [id, want] of expected.messages) {
    const got = stored[id];
    if (!want.visible) {
      if (got !== undefined) failures.push(`HTTP history: deleted message ${id} is still listed`);
      continue;
    }
    if (got === undefined) {
      failures.push(`HTTP history: message ${id} is missing`);
      continue;
    }
    if (got.text !== want.text) failures.push(`HTTP history: message ${id} has text ${JSON.stringify(got.text)}, expected ${JSON.stringify(want.text)}`);
    if (got.deleted !== want.deleted) failures.push(`HTTP history: message ${id} has deleted ${got.deleted}, expected ${want.deleted}`);
    if (got.thread_root_id !== want.threadRootId) failures.push(`HTTP history: message ${id} has thread_root_id ${got.thread_root_id}, expected ${want.threadRootId}`);
    if (got.reply_count !== want.replyCount) failures.push(`HTTP history: message ${id} has reply_count ${got.reply_count}, expected ${want.replyCount}`);
  }
  const extra = Object.keys(stored).filter((id) => !expected.messages.has(id));
  if (extra.length > 0) failures.push(`HTTP history: ${extra.length} messages the replay did not post, first ${extra[0]}`);
  return failures;
}

/**
 * Compares the state a client built from its initial load plus the events it
 * received with the state fetched fresh over HTTP. Returns up to `max`
 * differences, each as `<path>: <socket view> vs <HTTP view>`.
 */
export function diffStates(socketView: ClientState, httpView: ClientState, max = 5): string[] {
  const differences: string[] = [];
  diffValues(socketView, httpView, 'state', differences, max);
  return differences;
}

function diffValues(actual: unknown, expected: unknown, at: string, differences: string[], max: number): void {
  if (differences.length >= max || Object.is(actual, expected)) return;

  if (isContainer(actual) && isContainer(expected) && Array.isArray(actual) === Array.isArray(expected)) {
    const keys = new Set([...Object.keys(actual), ...Object.keys(expected)]);
    for (const key of [...keys].sort()) {
      diffValues((actual as Record<string, unknown>)[key], (expected as Record<string, unknown>)[key], `${at}.${key}`, differences, max);
    }
    return;
  }
  differences.push(`${at}: ${describe(actual)} vs ${describe(expected)}`);
}

function isContainer(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

function describe(value: unknown): string {
  const text = value === undefined ? 'absent' : JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

function countIds(ids: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}
