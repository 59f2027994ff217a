import { describe, expect, test } from 'vitest';
import { markdownToSlack, slackToMarkdown } from '../../src/slack/markup.js';

const ids: Record<string, string> = { ada: 'U-ADA', grace: 'U-GRACE' };
const lookup = (username: string) => ids[username.toLowerCase()];

describe('markdownToSlack', () => {
  test.each([
    ['plain text', 'plain text'],
    ['**bold** and ~~gone~~', '*bold* and ~gone~'],
    ['[docs](https://example.com/a?b=1&c=2)', '<https://example.com/a?b=1&amp;c=2|docs>'],
    ['hi @ada and @nobody', 'hi <@U-ADA> and @nobody'],
    ['@here @channel @team', '<!here> <!channel> <!everyone>'],
    ['1 < 2 & 3 > 2', '1 &lt; 2 &amp; 3 &gt; 2'],
    ['`**not bold** <x>`', '`**not bold** &lt;x&gt;`'],
    ['mail ada@example.com', 'mail ada@example.com'],
  ])('%j', (markdown, slack) => {
    expect(markdownToSlack(markdown, lookup)).toBe(slack);
  });

  test('round trip keeps styles', () => {
    const slack = '*bold* ~strike~ _italic_ <https://x.test|link>';
    expect(markdownToSlack(slackToMarkdown(slack), lookup)).toBe(slack);
  });
});
