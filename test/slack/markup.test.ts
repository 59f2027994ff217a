import { describe, expect, it } from 'vitest';
import { convertWithEntities, escapeSlackText, slackToMarkdown, type SlackNameResolver } from '../../src/slack/markup.js';

const names: SlackNameResolver = {
  user: (id) => ({ U1: 'ada', U2: 'grace' })[id],
  channel: (id) => ({ C1: 'general' })[id],
};

describe('slackToMarkdown', () => {
  it.each([
    ['hi <@U1>', 'hi @ada'],
    ['hi <@U1|someone>', 'hi @ada'],
    ['hi <@U9>', 'hi @U9'],
    ['hi <@U9|bob>', 'hi @bob'],
    ['see <#C1>', 'see #general'],
    ['see <#C9|random>', 'see #random'],
    ['<!here> and <!channel> and <!everyone>', '@here and @channel and @team'],
    ['<!here|here> now', '@here now'],
    ['<!subteam^S1|@ops> ping', '@ops ping'],
    ['<!date^1392734382^{date}|Feb 18, 2014>', 'Feb 18, 2014'],
    ['<https://example.com>', 'https://example.com'],
    ['<https://example.com|Example>', '[Example](https://example.com)'],
    ['<https://example.com/a?b=1&amp;c=2|x>', '[x](https://example.com/a?b=1&c=2)'],
    ['<https://x.io/a(b)|[odd]>', '[\\[odd\\]](https://x.io/a%28b%29)'],
    ['<mailto:a@b.co|a@b.co>', 'a@b.co'],
    ['1 &lt; 2 &amp;&amp; 3 &gt; 2', '1 < 2 && 3 > 2'],
    ['&amp;lt; stays', '&lt; stays'],
    ['*bold* and _it_ and ~gone~', '**bold** and _it_ and ~~gone~~'],
    ['2*3*4 is math', '2*3*4 is math'],
    ['`<@U1> *x*` stays', '`<@U1> *x*` stays'],
    ['```\n*a* &lt;b&gt;\n```', '```\n*a* <b>\n```'],
    ['', ''],
  ])('%j', (input, expected) => {
    expect(slackToMarkdown(input, names)).toBe(expected);
  });

  it('round-trips escaped text', () => {
    const text = 'a <b> & c';
    expect(slackToMarkdown(escapeSlackText(text))).toBe(text);
  });
});

describe('convertWithEntities', () => {
  it('places mentions and links', () => {
    const { text, entities } = convertWithEntities('hi <@U1> see <https://a.io|A> and <!here> `<@U2>` <@U9>', names);
    expect(text).toBe('hi @ada see [A](https://a.io) and @here `<@U2>` @U9');
    expect(entities).toEqual([
      { kind: 'user', username: 'ada', offset: 3, length: 4 },
      { kind: 'link', url: 'https://a.io', offset: 12, length: 17 },
      { kind: 'here', offset: 34, length: 5 },
    ]);
  });

  it('skips unsafe link schemes', () => {
    expect(convertWithEntities('<javascript:alert(1)|x>', names).entities).toEqual([]);
  });
});
