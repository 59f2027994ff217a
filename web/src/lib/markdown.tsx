import type { Nodes, Parents, Root, Text } from 'mdast';
import { fromMarkdown } from 'mdast-util-from-markdown';
import { gfmFromMarkdown } from 'mdast-util-gfm';
import { gfm } from 'micromark-extension-gfm';
import { Fragment, type ReactNode } from 'react';
import type { MessageView } from '../../../src/client/state.js';
import { isTooComplexForMarkdown } from '../../../src/mentions/markdown-limits.js';
import { replaceShortcodes } from './emoji.js';

/**
 * Renders message Markdown to React elements. The text is parsed into a
 * syntax tree (the parser the server uses, with GitHub's extensions) and
 * every node becomes an element or a string. No text ever reaches the DOM
 * as HTML: raw HTML in a message shows as the characters typed, React
 * escapes every string, and only the links the server returned as entities
 * (http, https and mailto) become anchors.
 */

export interface RenderContext {
  source: string;
  entities: MessageView['entities'];
  myId: string;
  /** Channel names of the team, for turning #name into a link to the channel. */
  channelNames: ReadonlySet<string>;
  openChannel: (name: string) => void;
}

/** GFM syntax and tree extensions, built once: building them on every call cost more than parsing a short message. */
const MARKDOWN_OPTIONS = { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] };

const SAFE_URL = /^(https?:|mailto:)/i;

function parse(text: string): Root {
  if (isTooComplexForMarkdown(text)) return plainRoot(text);
  return fromMarkdown(text, MARKDOWN_OPTIONS);
}

/** Builds a tree of one paragraph with the whole text, for a text the parser would take too long on. The server scans it the same way. */
function plainRoot(text: string): Root {
  const lines = text.split('\n');
  const position = {
    start: { line: 1, column: 1, offset: 0 },
    end: { line: lines.length, column: (lines.at(-1)?.length ?? 0) + 1, offset: text.length },
  };
  return { type: 'root', position, children: [{ type: 'paragraph', position, children: [{ type: 'text', value: text, position }] }] };
}

function sourceOf(node: Nodes, context: RenderContext): string {
  const start = node.position?.start.offset;
  const end = node.position?.end.offset;
  return start === undefined || end === undefined ? '' : context.source.slice(start, end);
}

function children(node: Parents, context: RenderContext): ReactNode[] {
  return node.children.map((child, index) => <Fragment key={index}>{renderNode(child as Nodes, context)}</Fragment>);
}

/** Renders #channel references and :shortcodes: inside a run of plain text. */
function renderWords(text: string, context: RenderContext, keyPrefix: string): ReactNode[] {
  const withEmoji = replaceShortcodes(text);
  const parts: ReactNode[] = [];
  const pattern = /(^|[^\p{L}\p{N}_#&/])#([\p{Ll}\p{N}_-]{1,80})/gu;
  let last = 0;
  for (const match of withEmoji.matchAll(pattern)) {
    const name = match[2]!;
    if (!context.channelNames.has(name)) continue;
    const start = match.index + match[1]!.length;
    parts.push(withEmoji.slice(last, start));
    parts.push(
      <button key={`${keyPrefix}-${start}`} type="button" className="channel-link" onClick={() => context.openChannel(name)}>
        #{name}
      </button>,
    );
    last = start + 1 + name.length;
  }
  parts.push(withEmoji.slice(last));
  return parts;
}

/**
 * Renders a text node, marking the mentions the server found in its source
 * range. A node's value may differ from its source (escapes, character
 * references, line ends), so each mention is looked up in the value, in
 * order, by the text it has in the source.
 */
function renderText(node: Text, context: RenderContext): ReactNode {
  const start = node.position?.start.offset;
  const end = node.position?.end.offset;
  if (start === undefined || end === undefined) return renderWords(node.value, context, 't');
  const mentions = context.entities.mentions.filter((mention) => mention.offset >= start && mention.offset + mention.length <= end).sort((a, b) => a.offset - b.offset);
  if (mentions.length === 0) return renderWords(node.value, context, 't');

  const parts: ReactNode[] = [];
  let cursor = 0;
  for (const mention of mentions) {
    const written = context.source.slice(mention.offset, mention.offset + mention.length);
    const at = node.value.indexOf(written, cursor);
    if (at === -1) continue;
    parts.push(...renderWords(node.value.slice(cursor, at), context, `w${cursor}`));
    const isMe = mention.type === 'user' ? mention.user_id === context.myId : mention.type !== 'here';
    parts.push(
      <span key={`m${mention.offset}`} className={isMe ? 'mention mention-me' : 'mention'} data-user-id={mention.user_id}>
        {written}
      </span>,
    );
    cursor = at + written.length;
  }
  parts.push(...renderWords(node.value.slice(cursor), context, `w${cursor}`));
  return parts;
}

function renderNode(node: Nodes, context: RenderContext): ReactNode {
  switch (node.type) {
    case 'root':
      return children(node, context);
    case 'paragraph':
      return <p>{children(node, context)}</p>;
    case 'text':
      return renderText(node, context);
    case 'emphasis':
      return <em>{children(node, context)}</em>;
    case 'strong':
      return <strong>{children(node, context)}</strong>;
    case 'delete':
      return <del>{children(node, context)}</del>;
    case 'inlineCode':
      return <code>{node.value}</code>;
    case 'code':
      return (
        <pre>
          <code data-language={node.lang ?? undefined}>{node.value}</code>
        </pre>
      );
    case 'break':
      return <br />;
    case 'thematicBreak':
      return <hr />;
    case 'blockquote':
      return <blockquote>{children(node, context)}</blockquote>;
    case 'heading':
      return <p className={`md-heading md-h${node.depth}`}>{children(node, context)}</p>;
    case 'list':
      return node.ordered ? <ol start={node.start ?? undefined}>{children(node, context)}</ol> : <ul>{children(node, context)}</ul>;
    case 'listItem':
      return (
        <li className={node.checked === null || node.checked === undefined ? undefined : 'task'}>
          {node.checked === null || node.checked === undefined ? null : (
            <input type="checkbox" checked={node.checked} disabled aria-label={node.checked ? 'done' : 'not done'} />
          )}
          {node.spread ? children(node, context) : node.children.map((child, index) => <Fragment key={index}>{renderTight(child as Nodes, context)}</Fragment>)}
        </li>
      );
    case 'link': {
      const start = node.position?.start.offset;
      const entity = context.entities.links.find((link) => link.offset === start);
      if (entity === undefined || !SAFE_URL.test(entity.url)) return children(node, context);
      return (
        <a href={entity.url} target="_blank" rel="noopener noreferrer nofollow ugc">
          {children(node, context)}
        </a>
      );
    }
    case 'table':
      return (
        <div className="md-table">
          <table>
            <tbody>
              {node.children.map((row, rowIndex) => (
                <tr key={rowIndex}>
                  {row.children.map((cell, cellIndex) => {
                    const Cell = rowIndex === 0 ? 'th' : 'td';
                    return (
                      <Cell key={cellIndex} style={{ textAlign: node.align?.[cellIndex] ?? undefined }}>
                        {children(cell, context)}
                      </Cell>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      );
    case 'html':
      // Raw HTML is shown as the characters typed, never parsed.
      return node.value;
    case 'image':
    case 'imageReference':
    case 'linkReference':
    case 'definition':
    case 'footnoteReference':
    case 'footnoteDefinition':
      // Images are not fetched from other hosts, and references show as written.
      return sourceOf(node, context);
    default:
      return 'children' in node ? children(node as Parents, context) : sourceOf(node, context);
  }
}

/** Renders a paragraph of a tight list item without its own paragraph element. */
function renderTight(node: Nodes, context: RenderContext): ReactNode {
  return node.type === 'paragraph' ? children(node, context) : renderNode(node, context);
}

/** Renders a message's text; `text` is the Markdown source and `entities` the server's view of it. */
export function renderMarkdown(text: string, entities: MessageView['entities'], context: Omit<RenderContext, 'source' | 'entities'>): ReactNode {
  return renderNode(parse(text), { ...context, source: text, entities });
}

/** Returns the text of a message without Markdown syntax, for previews and notifications. */
export function plainPreview(text: string, maxChars = 140): string {
  const flat = text.replace(/[`*_~>#]+/g, '').replace(/\s+/g, ' ').trim();
  return flat.length > maxChars ? `${flat.slice(0, maxChars - 1)}…` : flat;
}
