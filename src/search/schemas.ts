import { Type, type Static } from '@sinclair/typebox';
import { Id, Strict } from '../http/schemas.js';
import { Kind } from '../conversations/schemas.js';
import { Message } from '../messages/schemas.js';
import { RELEVANCE_CANDIDATES, TOTAL_CAP } from './run-search.js';

/** Maximum query length, in characters. */
export const MAX_QUERY_CHARS = 1000;

export const SearchQueryString = Strict({
  q: Type.String({
    minLength: 1,
    maxLength: MAX_QUERY_CHARS,
    description: 'Words, "phrases", -exclusions, prefix* and operators such as from:@user in:#channel after:2024-01-31; see docs/search.md',
  }),
  sort: Type.Optional(Type.Union([Type.Literal('relevance'), Type.Literal('date')], { default: 'relevance', description: `relevance ranks the ${RELEVANCE_CANDIDATES} newest matches; date is newest first` })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 500, description: 'next_cursor of the previous page, with the same q and sort' })),
});
export type SearchQueryString = Static<typeof SearchQueryString>;

export const TeamSearchParams = Strict({ teamId: Id });

const Highlights = Type.Array(
  Type.Object({ offset: Type.Integer({ description: 'Start in UTF-16 code units' }), length: Type.Integer() }),
  { description: 'Spans of the text (of the file name, for files) that match the query' },
);

export const SearchConversation = Type.Object({
  id: Id,
  team_id: Id,
  kind: Kind,
  name: Type.Union([Type.String(), Type.Null()]),
});

export const SearchUser = Type.Object({ id: Id, username: Type.String(), display_name: Type.String() });

const Page = {
  next_cursor: Type.Union([Type.String(), Type.Null()]),
  total: Type.Union([Type.Integer(), Type.Null()], {
    description: `Matches the caller may read, counted up to ${TOTAL_CAP}; null on later pages of a date-sorted search`,
  }),
  total_capped: Type.Boolean({ description: 'True when more than `total` matches exist' }),
};

export const MessageSearchResult = Type.Object({
  message: Message,
  conversation: SearchConversation,
  author: Type.Union([SearchUser, Type.Null()]),
  highlights: Highlights,
  score: Type.Union([Type.Number(), Type.Null()], { description: 'Relevance, higher is better; null when sorted by date' }),
  thread_root: Type.Union([
    Type.Object({ id: Id, author_id: Id, text: Type.String({ description: 'The first 300 characters' }), reply_count: Type.Integer(), deleted: Type.Boolean() }),
    Type.Null(),
  ]),
  history_path: Type.String({ description: 'API path of the conversation history around this message' }),
  thread_path: Type.Union([Type.String(), Type.Null()], { description: 'API path of the thread this message is in or starts' }),
});
export type MessageSearchResult = Static<typeof MessageSearchResult>;

export const MessageSearchPage = Type.Object({ results: Type.Array(MessageSearchResult), ...Page });

export const SearchFile = Type.Object({
  id: Id,
  name: Type.String(),
  mime_type: Type.String(),
  size: Type.Integer(),
  created_at: Type.String(),
  uploader_id: Id,
  message_id: Id,
  conversation_id: Id,
});

export const FileSearchResult = Type.Object({
  file: SearchFile,
  conversation: SearchConversation,
  uploader: Type.Union([SearchUser, Type.Null()]),
  highlights: Highlights,
  score: Type.Union([Type.Number(), Type.Null()]),
  history_path: Type.String({ description: 'API path of the conversation history around the message that shared the file' }),
});
export type FileSearchResult = Static<typeof FileSearchResult>;

export const FileSearchPage = Type.Object({ results: Type.Array(FileSearchResult), ...Page });
