import { describe, expect, test } from 'vitest';
import { MAX_PARSED_CHARS, mayHaveEntities, parseMessageText } from '../../src/mentions/parse.js';

/** Mentions as `kind:name@offset`, which keeps the table short and a failure readable. */
function mentionsOf(text: string): string[] {
  return parseMessageText(text).mentions.map((mention) =>
    mention.kind === 'user' ? `user:${mention.username}@${mention.offset}` : `${mention.kind}@${mention.offset}`,
  );
}

const CASES: Array<[string, string, string[]]> = [
  ['plain mention', 'hi @alice', ['user:alice@3']],
  ['mention at start', '@alice hi', ['user:alice@0']],
  ['two mentions', '@alice @bob', ['user:alice@0', 'user:bob@7']],
  ['comma after', 'thanks @alice, see', ['user:alice@7']],
  ['full stop after', 'ask @alice.', ['user:alice@4']],
  ['dots inside name', 'ask @alice.smith.', ['user:alice.smith@4']],
  ['hyphen at end', 'ping @bob- now', ['user:bob@5']],
  ['underscore kept inside', 'ping @bob_2', ['user:bob_2@5']],
  ['parentheses', '(@alice)', ['user:alice@1']],
  ['quotes', '"@alice"', ['user:alice@1']],
  ['possessive', "@alice's idea", ['user:alice@0']],
  ['question and exclamation', '@alice? @bob!', ['user:alice@0', 'user:bob@8']],
  ['bold', '**@alice**', ['user:alice@2']],
  ['underscore emphasis', '_@alice_', ['user:alice@1']],
  ['after a letter is no mention', 'foo@alice', []],
  ['after a digit is no mention', '1@alice', []],
  ['escaped at sign', '\\@alice', []],
  ['email address', 'mail bob@example.com now', []],
  ['mention followed by a domain', '@alice@example.com', []],
  ['email autolink', '<alice@example.com>', []],
  ['inline code', 'run `@alice` please', []],
  ['double backtick code', '``x @alice y``', []],
  ['fenced code block', '```\n@alice\n```', []],
  ['tilde fence', '~~~\n@alice\n~~~', []],
  ['indented code block', 'text\n\n    @alice', []],
  ['mention after code span', '`code` @bob', ['user:bob@7']],
  ['URL with path mention', 'see https://medium.com/@alice', []],
  ['www autolink', 'see www.example.com/@alice', []],
  ['bare domain path', 'example.com/@alice', []],
  ['angle autolink', '<https://x.test/@alice>', []],
  ['link text', '[@alice](https://example.com)', []],
  ['link destination only', '[profile](https://x.test/@alice) @bob', ['user:bob@33']],
  ['raw HTML is text', '<b>@alice</b>', ['user:alice@3']],
  ['script tag is text', '<script>@alice</script>', ['user:alice@8']],
  ['channel keyword', '@channel deploy', ['channel@0']],
  ['here keyword', 'anyone @here?', ['here@7']],
  ['team keyword', '@team hello', ['team@0']],
  ['keywords ignore case', '@Channel @HERE @Team', ['channel@0', 'here@9', 'team@15']],
  ['usernames keep case', '@Alice', ['user:Alice@0']],
  ['channel prefix is a user', '@channels', ['user:channels@0']],
  ['accented name', '@josé ok', ['user:josé@0']],
  ['CJK name', 'cc @日本語', ['user:日本語@3']],
  ['Cyrillic name', '@Иван, привет', ['user:Иван@0']],
  ['emoji before mention', '🚀@alice', ['user:alice@2']],
  ['lone at sign', 'at @ noon', []],
  ['at sign then punctuation', '@.alice', []],
  ['overlong name ignored', `@${'a'.repeat(33)}`, []],
  ['longest name kept', `@${'a'.repeat(32)}`, [`user:${'a'.repeat(32)}@0`]],
  ['mention in list item', '- @alice\n- @bob', ['user:alice@2', 'user:bob@11']],
  ['mention in heading', '# @alice', ['user:alice@2']],
  ['mention in quote', '> @alice said', ['user:alice@2']],
  ['mention in table cell', '| a |\n| - |\n| @bob |', ['user:bob@14']],
  ['strikethrough', '~~@alice~~', ['user:alice@2']],
  ['slash before', 'a/@alice', []],
];

describe('parseMessageText mentions', () => {
  test.each(CASES)('%s', (_name, text, expected) => {
    expect(mentionsOf(text)).toEqual(expected);
  });
});

describe('parseMessageText links', () => {
  test('autolinks and Markdown links with offsets', () => {
    const text = 'see https://a.test/x and [docs](https://b.test) or www.c.test';
    expect(parseMessageText(text).links).toEqual([
      { url: 'https://a.test/x', offset: 4, length: 16 },
      { url: 'https://b.test', offset: 25, length: 22 },
      { url: 'http://www.c.test', offset: 51, length: 10 },
    ]);
  });

  test('email becomes a mailto link', () => {
    expect(parseMessageText('write bob@example.com').links).toEqual([{ url: 'mailto:bob@example.com', offset: 6, length: 15 }]);
  });

  test('unsafe schemes are dropped', () => {
    expect(parseMessageText('[x](javascript:alert(1)) [y](data:text/html,hi)').links).toEqual([]);
  });

  test('links inside code are not links', () => {
    expect(parseMessageText('`https://a.test` and\n```\nhttps://b.test\n```').links).toEqual([]);
  });

  test('offsets slice the original text', () => {
    const text = 'héllo 🚀 @zoë and https://ex.test/ü';
    const parsed = parseMessageText(text);
    const [mention] = parsed.mentions;
    const [link] = parsed.links;
    expect(text.slice(mention!.offset, mention!.offset + mention!.length)).toBe('@zoë');
    expect(text.slice(link!.offset, link!.offset + link!.length)).toBe('https://ex.test/ü');
  });
});

/** Texts whose parse finds a mention or a link: the check before the parser must let each through. */
const WITH_ENTITIES = [
  '@alice',
  'hi @here',
  '(@bob)',
  'see https://a.test',
  'HTTP://A.TEST',
  '[docs](https://b.test)',
  '<https://e.test>',
  '<mailto:ann@f.test>',
  'www.c.test',
  'write bob@example.com',
  '<bob@localhost>',
  '[x](http&#58;//g.test)',
  '[x](&#104;ttp://g.test)',
  '[x](http\\://h.test)',
];

/** Texts without mentions or links that the check sends past the parser. */
const WITHOUT_ENTITIES = ['just words, no markers', 'meet at 12:30: bring :tada:', 'a@b and ~BX12@1733400000123456~', 'ratio 3:1, see note: later', 'user@host without dot'];

describe('parseMessageText fast path', () => {
  test.each(WITH_ENTITIES)('parsed: %s', (text) => {
    const parsed = parseMessageText(text);

    expect(mayHaveEntities(text)).toBe(true);
    expect(parsed.mentions.length + parsed.links.length).toBeGreaterThan(0);
  });

  test.each(WITHOUT_ENTITIES)('skipped: %s', (text) => {
    expect(mayHaveEntities(text)).toBe(false);
    expect(parseMessageText(text)).toEqual({ mentions: [], links: [] });
  });
});

describe('parseMessageText limits', () => {
  test('text without markers skips parsing', () => {
    expect(parseMessageText('just words, no markers')).toEqual({ mentions: [], links: [] });
  });

  test('mentions past the parsed length are ignored', () => {
    const filler = 'x '.repeat(MAX_PARSED_CHARS / 2);
    const parsed = parseMessageText(`@alice ${filler} @bob`);
    expect(parsed.mentions.map((mention) => (mention.kind === 'user' ? mention.username : mention.kind))).toEqual(['alice']);
  });

  test('mention cut by the limit is dropped', () => {
    const text = `${'x'.repeat(MAX_PARSED_CHARS - 4)} @alice`;
    expect(parseMessageText(text).mentions).toEqual([]);
  });

  test('mention just before the limit is kept', () => {
    const text = `${'x'.repeat(MAX_PARSED_CHARS - 8)} @alice more`;
    expect(parseMessageText(text).mentions).toEqual([{ kind: 'user', username: 'alice', offset: MAX_PARSED_CHARS - 7, length: 6 }]);
  });
});
