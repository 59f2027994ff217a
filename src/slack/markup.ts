/**
 * Converts Slack's message markup ("mrkdwn") into ChatterBox's Markdown, for
 * imported exports, incoming webhooks and the Slack Web API alike.
 *
 * Slack wraps every special token in angle brackets (`<@U123>`, `<#C1|name>`,
 * `<!here>`, `<https://x|label>`) and escapes only `&`, `<` and `>` in the
 * surrounding text, so the tokens are found first and the entities decoded after.
 */

/** Looks up the ChatterBox names of Slack ids, returning undefined for an unknown id. */
export interface SlackNameResolver {
  /** Username (without "@") of the user with this Slack user id. */
  user(slackId: string): string | undefined;
  /** Channel name (without "#") of the channel with this Slack id. */
  channel(slackId: string): string | undefined;
}

/** A mention or link found in Slack's tokens, at its place in the converted text (UTF-16 offsets). */
export type SlackEntity =
  | { kind: 'user'; username: string; offset: number; length: number }
  | { kind: 'here' | 'channel' | 'team'; offset: number; length: number }
  | { kind: 'link'; url: string; offset: number; length: number };

/** Resolver that resolves no id, so every token falls back to its label. */
export const NO_NAMES: SlackNameResolver = { user: () => undefined, channel: () => undefined };

/** Slack broadcast keywords and the ChatterBox mention for each. */
const BROADCASTS: Record<string, string> = { here: '@here', channel: '@channel', everyone: '@team' };

/** One bracketed token. Slack escapes "<" and ">" in text, so a token contains neither. */
const TOKEN = /<([^<>\n]*)>/g;

/** Fenced blocks and inline code, whose contents keep their characters. */
const CODE = /(```[\s\S]*?```|`[^`\n]+`)/;

/**
 * Converts one Slack message text. Unknown ids keep a readable form (the
 * token's label, or the raw id) rather than vanishing, so nothing a reader saw
 * in Slack is lost.
 */
export function slackToMarkdown(text: string, names: SlackNameResolver = NO_NAMES): string {
  return convertWithEntities(text, names).text;
}

/**
 * Converts one Slack message text and returns the mentions and links that
 * its tokens carried, with their offsets in the converted text. Slack writes
 * every mention and every link it recognised as a token, so these are the
 * message's entities without parsing the Markdown again. A `[label](url)`
 * link spans its whole Markdown form, as the Markdown parser reports it.
 */
export function convertWithEntities(text: string, names: SlackNameResolver = NO_NAMES): { text: string; entities: SlackEntity[] } {
  const entities: SlackEntity[] = [];
  let result = '';
  // Odd-numbered parts are code, where only the entities are decoded.
  text.split(CODE).forEach((part, index) => {
    result += index % 2 === 1 ? decodeEntities(part) : convertProse(part, names, result.length, entities);
  });
  return { text: result, entities };
}

/** Escapes text for Slack's markup, as Slack does before sending it to clients. */
export function escapeSlackText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Decodes the three entities Slack escapes. `&amp;` goes last, so "&amp;lt;" becomes "&lt;". */
export function decodeEntities(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** Converts text outside code; `start` is where its output begins in the whole converted text. */
function convertProse(text: string, names: SlackNameResolver, start: number, entities: SlackEntity[]): string {
  let result = '';
  let last = 0;
  for (const match of text.matchAll(TOKEN)) {
    result += convertStyles(decodeEntities(text.slice(last, match.index)));
    const converted = convertToken(match[1] ?? '', names);
    if (converted.entity !== undefined) entities.push({ ...converted.entity, offset: start + result.length, length: converted.text.length } as SlackEntity);
    result += converted.text;
    last = match.index + match[0].length;
  }
  return result + convertStyles(decodeEntities(text.slice(last)));
}

type TokenEntity = { kind: 'user'; username: string } | { kind: 'here' | 'channel' | 'team' } | { kind: 'link'; url: string };

function convertToken(body: string, names: SlackNameResolver): { text: string; entity?: TokenEntity } {
  const bar = body.indexOf('|');
  const target = bar === -1 ? body : body.slice(0, bar);
  const label = bar === -1 ? undefined : decodeEntities(body.slice(bar + 1));

  if (target.startsWith('@')) {
    const id = target.slice(1);
    const username = names.user(id);
    if (username !== undefined) return { text: `@${username}`, entity: { kind: 'user', username } };
    return { text: `@${label?.replace(/^@/, '') ?? id}` };
  }
  if (target.startsWith('#')) {
    const id = target.slice(1);
    return { text: `#${names.channel(id) ?? label?.replace(/^#/, '') ?? id}` };
  }
  if (target.startsWith('!')) return convertCommand(target.slice(1), label);
  return convertLink(decodeEntities(target), label);
}

/** Converts a command token such as `<!here>`, `<!subteam^S1|@team>` or `<!date^1392734382^{date}|Feb 18>`. */
function convertCommand(command: string, label: string | undefined): { text: string; entity?: TokenEntity } {
  const name = command.split('^')[0] ?? '';
  const broadcast = BROADCASTS[name];
  if (broadcast) return { text: broadcast, entity: { kind: broadcast.slice(1) as 'here' | 'channel' | 'team' } };
  return { text: label ?? '' };
}

/** Link schemes that become link entities, as in message posting; others stay text. */
const SAFE_SCHEMES = /^(https?:|mailto:)/i;

function convertLink(url: string, label: string | undefined): { text: string; entity?: TokenEntity } {
  const entity: TokenEntity | undefined = SAFE_SCHEMES.test(url) ? { kind: 'link', url } : undefined;
  const displayed = url.startsWith('mailto:') ? url.slice('mailto:'.length) : url;
  if (label === undefined || label === displayed) return { text: displayed, entity };
  const encoded = url.replace(/[()\s]/g, percentEncode);
  return { text: `[${label.replace(/([[\]\\])/g, '\\$1')}](${encoded})`, entity: entity && { kind: 'link', url: encoded } };
}

/** Percent-encodes one character, which encodeURIComponent leaves alone for "(" and ")". */
function percentEncode(char: string): string {
  return `%${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;
}

/**
 * Converts Slack's `*bold*` and `~strike~` to Markdown's `**bold**` and `~~strike~~`.
 * `_italic_` is the same in both. Markers count only at word edges, as in Slack.
 */
function convertStyles(text: string): string {
  return text
    .replace(/(^|[\s([{'"])\*(?=\S)([^*\n]*?\S)\*(?=$|[\s.,;:!?)\]}'"])/g, '$1**$2**')
    .replace(/(^|[\s([{'"])~(?=\S)([^~\n]*?\S)~(?=$|[\s.,;:!?)\]}'"])/g, '$1~~$2~~');
}

/** Looks up the ids of ChatterBox usernames, for the reverse conversion. */
export type UserIdLookup = (username: string) => string | undefined;

/** ChatterBox broadcast mentions and the Slack token for each. */
const SLACK_BROADCASTS: Record<string, string> = { here: '<!here>', channel: '<!channel>', team: '<!everyone>' };

/** A Markdown link, an @mention or a bold or strike-through span. */
const MARKDOWN_TOKEN = /\[((?:[^\]\\\n]|\\.)+)\]\(([^()\s]+)\)|(^|[^\w@])@([\p{L}\p{N}][\p{L}\p{N}._-]*)|\*\*(?=\S)([^*\n]*?\S)\*\*|~~(?=\S)([^~\n]*?\S)~~/gu;

/**
 * Converts ChatterBox Markdown to Slack's mrkdwn, for the text the Slack Web
 * API returns: `**bold**` to `*bold*`, `~~strike~~` to `~strike~`, links to
 * `<url|label>`, mentions of known users to `<@id>` and broadcasts to
 * `<!here>`, `<!channel>` and `<!everyone>`. Text is escaped as Slack escapes
 * it, and code keeps its characters.
 */
export function markdownToSlack(text: string, userIdOf: UserIdLookup): string {
  return text
    .split(CODE)
    .map((part, index) => (index % 2 === 1 ? escapeSlackText(part) : convertMarkdownProse(part, userIdOf)))
    .join('');
}

function convertMarkdownProse(text: string, userIdOf: UserIdLookup): string {
  let result = '';
  let last = 0;
  for (const match of text.matchAll(MARKDOWN_TOKEN)) {
    result += escapeSlackText(text.slice(last, match.index));
    result += convertMarkdownToken(match, userIdOf);
    last = match.index + match[0].length;
  }
  return result + escapeSlackText(text.slice(last));
}

function convertMarkdownToken(match: RegExpMatchArray, userIdOf: UserIdLookup): string {
  const [whole, label, url, before, username, bold, strike] = match;
  if (label !== undefined && url !== undefined) return `<${escapeSlackText(url)}|${escapeSlackText(label.replace(/\\(.)/g, '$1'))}>`;
  if (username !== undefined) {
    const broadcast = SLACK_BROADCASTS[username.toLowerCase()];
    const id = broadcast === undefined ? userIdOf(username) : undefined;
    const token = broadcast ?? (id === undefined ? `@${username}` : `<@${id}>`);
    return escapeSlackText(before ?? '') + token;
  }
  if (bold !== undefined) return `*${escapeSlackText(bold)}*`;
  if (strike !== undefined) return `~${escapeSlackText(strike)}~`;
  return escapeSlackText(whole);
}
