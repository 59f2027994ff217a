import type { AppContext } from '../../platform/context.js';
import type { TeamRow } from '../../storage/schema.js';
import type { SlackFileDownloader } from './file-download.js';
import type { ImportReport } from './report.js';
import type { ExportSource } from './source.js';

/** A ChatterBox account that stands for a Slack user or bot. */
export interface MappedUser {
  id: string;
  username: string;
}

/** A ChatterBox conversation that stands for a Slack conversation. */
export interface MappedConversation {
  id: string;
  /** Channel name; undefined for direct messages. */
  name: string | undefined;
  /** Folder of the conversation's day files in the export. */
  folder: string;
  archived: boolean;
  memberIds: string[];
}

/**
 * The state that the steps of one run share. The maps hold users, bots and
 * conversations, whose number is small beside the messages; messages are
 * never held beyond one batch.
 */
export interface ImportState {
  ctx: AppContext;
  team: TeamRow;
  source: ExportSource;
  report: ImportReport;
  /** Slack user id to account. */
  users: Map<string, MappedUser>;
  /** Slack bot id (or a bot message's username) to bot account. */
  bots: Map<string, MappedUser>;
  /** Lowercased username to account id, to resolve the mentions of converted text. */
  usernames: Map<string, string>;
  /** Slack conversation id to conversation. */
  conversations: Map<string, MappedConversation>;
  /** Argon2 hash of a random secret that is never stored, shared by created accounts so none can log in until reset. */
  unusableHash: string;
  /** Fetches the bytes of files the export lacks; undefined when no token was supplied. */
  downloader?: SlackFileDownloader;
  /** Stops the run between batches; a stopped run resumes when started again. */
  signal?: AbortSignal;
  /** Called after each batch, so callers can store progress. */
  onProgress?: () => Promise<void>;
}
