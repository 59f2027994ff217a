import { describe, expect, test } from 'vitest';
import { NO_NAMES } from '../../src/slack/markup.js';
import { InvalidSlackContent, renderSlackContent } from '../../src/slack/api/payload.js';

describe('renderSlackContent', () => {
  test('text alone', () => {
    expect(renderSlackContent({ text: 'hello *you*' }, NO_NAMES)).toBe('hello **you**');
  });

  test('blocks replace text', () => {
    const blocks = [{ type: 'section', text: { type: 'plain_text', text: '*literal*' } }, { type: 'divider' }];
    expect(renderSlackContent({ text: 'fallback', blocks }, NO_NAMES)).toBe('*literal*\n\n---');
  });

  test('blocks without text keep text', () => {
    expect(renderSlackContent({ text: 'fallback', blocks: [{ type: 'image', image_url: 'https://x/y.png' }] }, NO_NAMES)).toBe('fallback');
  });

  test('attachment fallback only when empty', () => {
    expect(renderSlackContent({ attachments: [{ fallback: 'fb', text: 'shown' }] }, NO_NAMES)).toBe('shown');
    expect(renderSlackContent({ attachments: [{ fallback: 'fb', color: '#f00' }] }, NO_NAMES)).toBe('fb');
  });

  test('names resolve in blocks', () => {
    const names = { user: (id: string) => (id === 'U1' ? 'ada' : undefined), channel: () => undefined };
    expect(renderSlackContent({ blocks: [{ type: 'context', elements: [{ type: 'mrkdwn', text: 'by <@U1>' }] }] }, names)).toBe('by @ada');
  });

  test('empty payload renders empty', () => {
    expect(renderSlackContent({}, NO_NAMES)).toBe('');
  });

  test.each([
    [{ blocks: 'x' }, 'blocks'],
    [{ blocks: [1] }, 'blocks'],
    [{ attachments: {} }, 'attachments'],
  ])('rejects %j', (content, field) => {
    expect(() => renderSlackContent(content, NO_NAMES)).toThrow(InvalidSlackContent);
    try {
      renderSlackContent(content, NO_NAMES);
    } catch (error) {
      expect((error as InvalidSlackContent).field).toBe(field);
    }
  });
});
