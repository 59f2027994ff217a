import { afterEach, describe, expect, test, vi } from 'vitest';
import type { ClientSignalFrame } from '../../src/client/realtime.js';
import { SignalTracker } from '../../web/src/lib/presence.js';
import { snippetParts, toggleTerm } from '../../web/src/lib/search.js';

function buildTracker(open = true) {
  const sent: ClientSignalFrame[] = [];
  let changes = 0;
  const tracker = new SignalTracker({
    send: (frame) => {
      if (open) sent.push(frame);
      return open;
    },
    changed: () => {
      changes += 1;
    },
    myId: () => 'me',
  });
  return { tracker, sent, changes: () => changes };
}

describe('signal tracker', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  test('watchers share one subscription', () => {
    const { tracker, sent } = buildTracker();
    const stopFirst = tracker.watch(['a', 'b']);
    const stopSecond = tracker.watch(['b', 'c']);
    expect(sent).toEqual([
      { type: 'presence.subscribe', user_ids: ['a', 'b'] },
      { type: 'presence.subscribe', user_ids: ['c'] },
    ]);
    stopFirst();
    expect(sent.at(-1)).toEqual({ type: 'presence.unsubscribe', user_ids: ['a'] });
    stopSecond();
    expect(sent.at(-1)).toEqual({ type: 'presence.unsubscribe', user_ids: ['b', 'c'] });
  });

  test('subscriptions split at 500 ids', () => {
    const { tracker, sent } = buildTracker();
    tracker.watch(Array.from({ length: 1001 }, (_, index) => `u${index}`));
    expect(sent.map((frame) => (frame as { user_ids: string[] }).user_ids.length)).toEqual([500, 500, 1]);
  });

  test('ready subscribes again', () => {
    const { tracker, sent } = buildTracker();
    tracker.watch(['a']);
    tracker.apply({ type: 'presence', users: [{ user_id: 'a', status: 'online', since: 1, last_active_at: 1, dnd_until: null }] });
    expect(tracker.presence.get('a')).toBe('online');
    tracker.onReady();
    expect(sent.at(-1)).toEqual({ type: 'presence.subscribe', user_ids: ['a'] });
  });

  test('unwatched and unavailable users', () => {
    const { tracker } = buildTracker();
    tracker.watch(['a']);
    tracker.apply({ type: 'presence', users: [{ user_id: 'z', status: 'online', since: 1, last_active_at: 1, dnd_until: null }], unavailable: [] });
    expect(tracker.presence.has('z')).toBe(false);
    tracker.apply({ type: 'presence', users: [{ user_id: 'a', status: 'away', since: 1, last_active_at: 1, dnd_until: null }] });
    expect(tracker.presence.get('a')).toBe('away');
    tracker.apply({ type: 'presence', users: [], unavailable: ['a'] });
    expect(tracker.presence.has('a')).toBe(false);
  });

  test('typing expires, stops and ignores me', () => {
    vi.useFakeTimers();
    const { tracker, changes } = buildTracker();
    tracker.apply({ type: 'typing', conversation_id: 'c', thread_root_id: null, user_id: 'ada', active: true, expires_in_ms: 6000 });
    tracker.apply({ type: 'typing', conversation_id: 'c', thread_root_id: 'root', user_id: 'bob', active: true, expires_in_ms: 6000 });
    tracker.apply({ type: 'typing', conversation_id: 'c', thread_root_id: null, user_id: 'me', active: true, expires_in_ms: 6000 });
    expect(tracker.typingIn('c', null)).toEqual(['ada']);
    expect(tracker.typingIn('c', 'root')).toEqual(['bob']);

    tracker.stopTyping('c', 'root', 'bob');
    expect(tracker.typingIn('c', 'root')).toEqual([]);

    const before = changes();
    vi.advanceTimersByTime(6100);
    expect(tracker.typingIn('c', null)).toEqual([]);
    // The expiry renders again although no frame arrived.
    expect(changes()).toBeGreaterThan(before);
  });

  test('typing frames are throttled', () => {
    vi.useFakeTimers();
    const { tracker, sent } = buildTracker();
    tracker.sendTyping('c', null);
    tracker.sendTyping('c', null);
    tracker.sendTyping('c', 'root');
    expect(sent).toEqual([
      { type: 'typing', conversation_id: 'c' },
      { type: 'typing', conversation_id: 'c', thread_root_id: 'root' },
    ]);
    vi.advanceTimersByTime(2600);
    tracker.sendTyping('c', null);
    expect(sent).toHaveLength(3);
  });

  test('signals wait for an open socket', () => {
    const { tracker, sent } = buildTracker(false);
    tracker.sendTyping('c', null);
    tracker.sendActivity();
    expect(sent).toEqual([]);
  });
});

describe('search helpers', () => {
  test('chips toggle terms', () => {
    expect(toggleTerm('deploy', 'has:file')).toBe('deploy has:file');
    expect(toggleTerm('deploy HAS:file "blue green"', 'has:file')).toBe('deploy "blue green"');
  });

  test('snippet marks highlights', () => {
    expect(snippetParts('ship the deploy now', [{ offset: 9, length: 6 }])).toEqual([
      { text: 'ship the ', match: false },
      { text: 'deploy', match: true },
      { text: ' now', match: false },
    ]);
  });

  test('long snippet cuts around the match', () => {
    const text = `${'a '.repeat(300)}needle${' b'.repeat(300)}`;
    const parts = snippetParts(text, [{ offset: 600, length: 6 }]);
    expect(parts[0]).toEqual({ text: '…', match: false });
    expect(parts.at(-1)).toEqual({ text: '…', match: false });
    expect(parts.find((part) => part.match)?.text).toBe('needle');
    expect(parts.map((part) => part.text).join('').length).toBeLessThanOrEqual(362);
  });
});
