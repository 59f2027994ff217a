import { describe, expect, test } from 'vitest';
import { recount } from '../../src/client/counts.js';
import type { EventFrame } from '../../src/client/realtime.js';
import { applyEvent, type ClientState, type ConversationState, type MessageView } from '../../src/client/state.js';

/**
 * Counts of a client that holds only part of a conversation's history (the
 * web client): the server's baseline counts plus its own count of the held
 * messages above the baseline.
 */

const ME = 'me';
const OTHER = 'other';

function message(seq: number, overrides: Partial<MessageView> = {}): MessageView {
  return {
    id: `m${seq}`,
    conversation_id: 'c1',
    seq,
    author_id: OTHER,
    text: `message ${seq}`,
    thread_root_id: null,
    also_in_channel: false,
    reply_count: 0,
    reply_users: [],
    last_reply_at: null,
    created_at: new Date(0).toISOString(),
    edited_at: null,
    deleted: false,
    entities: { mentions: [], links: [] },
    reactions: [],
    files: [],
    ...overrides,
  };
}

const mentionOfMe = { mentions: [{ type: 'user', user_id: ME, username: 'me', offset: 0, length: 3 }], links: [] };

function buildState(messages: MessageView[], window: ConversationState['window']): ClientState {
  const entry: ConversationState = {
    conversation: { id: 'c1', team_id: 't1', kind: 'public', name: 'general', topic: '', purpose: '', created_by: OTHER, archived: false, is_general: true },
    memberIds: [ME, OTHER],
    messages: Object.fromEntries(messages.map((item) => [item.id, item])),
    lastReadSeq: 5,
    unreadCount: 0,
    mentionCount: 0,
    pins: [],
    window,
  };
  return {
    me: { id: ME, username: 'me', display_name: 'Me', status_text: '', time_zone: 'UTC', email: 'me@example.test' },
    teams: {},
    conversations: { c1: entry },
    threads: {},
    saved: {},
  };
}

function event(seq: number, name: string, data: Record<string, unknown>): EventFrame {
  return { type: 'event', stream: 'c:c1', seq, event: name, at: 0, data };
}

describe('counts with a history window', () => {
  test('baseline plus held messages above it', () => {
    // The server counted 3 unread (1 mention) up to seq 10; seq 8 is held too and must not count twice.
    const state = buildState([message(8), message(12, { entities: mentionOfMe })], { baselineSeq: 10, baselineReadSeq: 5, unreadCount: 3, mentionCount: 1, threads: {} });
    recount(state);
    expect(state.conversations.c1!.unreadCount).toBe(4);
    expect(state.conversations.c1!.mentionCount).toBe(2);
  });

  test('read past the baseline counts held only', () => {
    const state = buildState([message(8), message(12), message(13, { author_id: ME })], { baselineSeq: 10, baselineReadSeq: 5, unreadCount: 3, mentionCount: 1, threads: {} });
    state.conversations.c1!.lastReadSeq = 11;
    recount(state);
    expect(state.conversations.c1!.unreadCount).toBe(1);
    expect(state.conversations.c1!.mentionCount).toBe(0);
  });

  test('read position moved below baseline counts held', () => {
    const state = buildState([message(8), message(12)], { baselineSeq: 10, baselineReadSeq: 5, unreadCount: 3, mentionCount: 0, threads: {} });
    state.conversations.c1!.lastReadSeq = 7;
    recount(state);
    expect(state.conversations.c1!.unreadCount).toBe(2);
  });

  test('new message event adds to baseline', () => {
    const state = buildState([], { baselineSeq: 10, baselineReadSeq: 5, unreadCount: 99, mentionCount: 0, threads: {} });
    applyEvent(state, event(11, 'message.posted', { message: message(11) }));
    expect(state.conversations.c1!.unreadCount).toBe(100);
    applyEvent(state, event(12, 'message.posted', { message: message(12) }));
    expect(state.conversations.c1!.unreadCount).toBe(100);
  });

  test('own post reads everything', () => {
    const state = buildState([], { baselineSeq: 10, baselineReadSeq: 5, unreadCount: 3, mentionCount: 1, threads: {} });
    applyEvent(state, event(11, 'message.posted', { message: message(11, { author_id: ME }) }));
    expect(state.conversations.c1!.unreadCount).toBe(0);
    expect(state.conversations.c1!.mentionCount).toBe(0);
  });

  test('followed thread with unheld root stays', () => {
    const state = buildState([], { baselineSeq: 10, baselineReadSeq: 5, unreadCount: 0, mentionCount: 0, threads: { root1: { readSeq: 4, unreadCount: 2, mentionCount: 1 } } });
    state.threads.root1 = { conversation_id: 'c1', last_read_seq: 4, unread_count: 0, mention_count: 0 };
    applyEvent(state, event(11, 'message.posted', { message: message(11, { thread_root_id: 'root1' }) }));
    expect(state.threads.root1).toEqual({ conversation_id: 'c1', last_read_seq: 4, unread_count: 3, mention_count: 1 });
  });

  test('followed thread with unheld root dropped without window', () => {
    const state = buildState([], undefined);
    state.threads.root1 = { conversation_id: 'c1', last_read_seq: 4, unread_count: 0, mention_count: 0 };
    recount(state);
    expect(state.threads.root1).toBeUndefined();
  });

  test('deleting an unheld message drops its pin and saved item', () => {
    const state = buildState([], { baselineSeq: 10, baselineReadSeq: 5, unreadCount: 0, mentionCount: 0, threads: {} });
    state.conversations.c1!.pins = [{ message_id: 'm3', pinned_by: OTHER, pinned_at: new Date(0).toISOString() }];
    state.saved.m3 = { conversation_id: 'c1', saved_at: new Date(0).toISOString() };
    applyEvent(state, event(11, 'message.deleted', { message_id: 'm3', thread_root_id: null }));
    expect(state.conversations.c1!.pins).toEqual([]);
    expect(state.saved.m3).toBeUndefined();
  });

  test('deleting a root without replies unfollows it', () => {
    const state = buildState([message(9)], { baselineSeq: 10, baselineReadSeq: 5, unreadCount: 0, mentionCount: 0, threads: {} });
    state.threads.m9 = { conversation_id: 'c1', last_read_seq: 9, unread_count: 0, mention_count: 0 };
    applyEvent(state, event(11, 'message.deleted', { message_id: 'm9', thread_root_id: null }));
    expect(state.threads.m9).toBeUndefined();
  });
});
