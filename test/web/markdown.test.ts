import { createElement, Fragment } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, test } from 'vitest';
import type { MessageView } from '../../src/client/state.js';
import { renderMarkdown } from '../../web/src/lib/markdown.js';

type Entities = MessageView['entities'];
const none: Entities = { mentions: [], links: [] };

function html(text: string, entities: Entities = none, channels: string[] = []): string {
  const node = renderMarkdown(text, entities, { myId: 'me', channelNames: new Set(channels), openChannel: () => undefined });
  return renderToStaticMarkup(createElement(Fragment, null, node));
}

describe('message Markdown', () => {
  test('raw HTML stays text', () => {
    const output = html('<img src=x onerror="alert(1)"> and <script>alert(2)</script>');
    expect(output).not.toContain('<img');
    expect(output).not.toContain('<script');
    expect(output).toContain('&lt;img src=x onerror=&quot;alert(1)&quot;&gt;');
  });

  test('html block stays text', () => {
    const output = html('<div onclick="x()">\n<b>bold?</b>\n</div>');
    expect(output).not.toMatch(/<div|<b>/);
    expect(output).toContain('&lt;b&gt;bold?&lt;/b&gt;');
  });

  test('links only from server entities', () => {
    const text = 'see [site](https://example.com) and [bad](javascript:alert(1))';
    const entities: Entities = { mentions: [], links: [{ url: 'https://example.com', offset: 4, length: 27 }] };
    const output = html(text, entities);
    expect(output).toContain('<a href="https://example.com" target="_blank" rel="noopener noreferrer nofollow ugc">site</a>');
    expect(output).not.toContain('javascript');
    expect(output).toContain('bad');
  });

  test('link entity with unsafe scheme ignored', () => {
    const entities: Entities = { mentions: [], links: [{ url: 'javascript:alert(1)', offset: 0, length: 9 }] };
    expect(html('[x](y://z)', entities)).not.toContain('<a');
  });

  test('link without entity is text', () => {
    expect(html('<https://example.com>')).not.toContain('<a');
  });

  test('images are not fetched', () => {
    const output = html('![cat](https://tracker.example/pixel.png)');
    expect(output).not.toContain('<img');
    expect(output).toContain('![cat](https://tracker.example/pixel.png)');
  });

  test('mentions marked from entities', () => {
    const text = 'hi @ada and @me';
    const entities: Entities = {
      mentions: [
        { type: 'user', user_id: 'ada-id', username: 'ada', offset: 3, length: 4 },
        { type: 'user', user_id: 'me', username: 'me', offset: 12, length: 3 },
      ],
      links: [],
    };
    const output = html(text, entities);
    expect(output).toContain('<span class="mention" data-user-id="ada-id">@ada</span>');
    expect(output).toContain('<span class="mention mention-me" data-user-id="me">@me</span>');
  });

  test('mention inside code is not marked', () => {
    expect(html('`@ada`', { mentions: [], links: [] })).toBe('<p><code>@ada</code></p>');
  });

  test('emphasis, code blocks, lists and tables', () => {
    const output = html('**b** _i_ ~~s~~\n\n```js\nlet x = "<b>";\n```\n\n- [x] done\n- todo\n\n| a | b |\n| - | - |\n| 1 | 2 |');
    expect(output).toContain('<strong>b</strong>');
    expect(output).toContain('<em>i</em>');
    expect(output).toContain('<del>s</del>');
    expect(output).toContain('<pre><code data-language="js">let x = &quot;&lt;b&gt;&quot;;</code></pre>');
    expect(output).toContain('<input type="checkbox" disabled="" aria-label="done" checked=""/>');
    expect(output).toContain('<th>a</th>');
    expect(output).toContain('<td>2</td>');
  });

  test('known channel names become buttons', () => {
    const output = html('see #launch and #unknown', none, ['launch']);
    expect(output).toContain('<button type="button" class="channel-link">#launch</button>');
    expect(output).toContain('#unknown');
    expect(output).not.toContain('>#unknown</button>');
  });

  test('character references decode to text', () => {
    expect(html('&lt;b&gt; &amp; &copy;')).toBe('<p>&lt;b&gt; &amp; ©</p>');
  });
});
