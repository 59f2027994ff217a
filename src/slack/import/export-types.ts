/**
 * The parts of Slack's export format the importer reads. Other fields are
 * ignored. Every field is optional here because real exports omit many.
 */

export interface SlackUser {
  id: string;
  name?: string;
  real_name?: string;
  deleted?: boolean;
  is_bot?: boolean;
  is_app_user?: boolean;
  is_admin?: boolean;
  is_owner?: boolean;
  is_primary_owner?: boolean;
  tz?: string;
  profile?: { email?: string; real_name?: string; display_name?: string; bot_id?: string; status_text?: string };
}

export interface SlackTextField {
  value?: string;
}

/** An entry of channels.json, groups.json, dms.json or mpims.json. */
export interface SlackConversation {
  id: string;
  name?: string;
  created?: number | string;
  creator?: string;
  is_archived?: boolean;
  is_general?: boolean;
  members?: string[];
  topic?: SlackTextField;
  purpose?: SlackTextField;
}

export interface SlackFile {
  id?: string;
  name?: string;
  title?: string;
  mimetype?: string;
  size?: number;
  /** URLs of the bytes on Slack's file host, which need a token. */
  url_private?: string;
  url_private_download?: string;
  mode?: string;
}

export interface SlackMessage {
  type?: string;
  subtype?: string;
  ts: string;
  user?: string;
  bot_id?: string;
  username?: string;
  bot_profile?: { name?: string };
  text?: string;
  thread_ts?: string;
  edited?: { user?: string; ts?: string };
  reactions?: Array<{ name?: string; users?: string[]; count?: number }>;
  pinned_to?: string[];
  files?: SlackFile[];
  /** A single shared file, in older exports. */
  file?: SlackFile;
  /** The comment of a `file_comment` line, whose author is the comment's. */
  comment?: { user?: string };
  attachments?: Array<{ fallback?: string; text?: string; title?: string; pretext?: string }>;
}

/** The four conversation lists of an export and the folder naming of each. */
export type ConversationListKind = 'channels' | 'groups' | 'dms' | 'mpims';
