import type { Generated } from 'kysely';

/** Row types of every table, as Kysely reads and writes them. Times are Unix milliseconds. */
export interface UserRow {
  id: string;
  email: string;
  email_key: string;
  username: string;
  username_key: string;
  display_name: string;
  password_hash: string;
  status_text: string;
  time_zone: string;
  created_at: number;
  updated_at: number;
  /** Set while a server admin has deactivated the account: it cannot log in or be added anywhere. */
  deactivated_at?: number | null;
  /** Base32 TOTP secret; null while the second factor is off. */
  totp_secret?: string | null;
  /** Secret shown during setup, confirmed by the first valid code. */
  totp_pending_secret?: string | null;
  /** Highest TOTP time step already accepted. */
  totp_last_step?: number | null;
  /** 1 for a bot account (webhooks, Slack API bots, imported bots), which cannot log in with a password. */
  is_bot?: number;
}

export interface SessionRow {
  id: string;
  user_id: string;
  token_hash: string;
  created_at: number;
  expires_at: number;
  last_seen_at: number;
  user_agent: string | null;
  /** Client address that created the session. */
  address?: string | null;
}

export interface WsTicketRow {
  ticket_hash: string;
  session_id: string;
  user_id: string;
  expires_at: number;
}

export interface TeamRow {
  id: string;
  name: string;
  created_by: string;
  created_at: number;
  /** The #general channel that every member of the team belongs to. */
  general_conversation_id: string | null;
}

export type TeamRole = 'owner' | 'admin' | 'member';

export interface TeamMemberRow {
  team_id: string;
  user_id: string;
  role: TeamRole;
  joined_at: number;
}

export type ConversationKind = 'public' | 'private' | 'dm' | 'group';

export interface ConversationRow {
  id: string;
  team_id: string;
  kind: ConversationKind;
  /** Channel name; null for direct messages. */
  name: string | null;
  topic: string;
  purpose: string;
  /** Team id and sorted member ids of a direct message, so one set of people has one conversation. */
  dm_key: string | null;
  created_by: string;
  created_at: number;
  updated_at: number;
  archived_at: number | null;
}

export interface ConversationMemberRow {
  conversation_id: string;
  user_id: string;
  joined_at: number;
  /** Highest seq of the conversation stream the member has read; new members start at their join. */
  last_read_seq: Generated<number>;
}

export interface MessageRow {
  id: string;
  conversation_id: string;
  /** Sequence number of the event that posted this message in its conversation's stream. */
  seq: number;
  author_id: string;
  text: string;
  root_id: string | null;
  also_in_channel: number;
  reply_count: number;
  /** JSON array of the ids of up to ten users who replied, in order of their first reply. */
  reply_users: string;
  last_reply_at: number | null;
  edited_at: number | null;
  deleted_at: number | null;
  created_at: number;
  client_msg_id: string | null;
  /** JSON of the mention and link entities parsed from `text` (see src/mentions/parse.ts). */
  entities: string;
  /** Null for an ordinary post; 'bot_message' for bots and webhooks, or a Slack system subtype. */
  subtype?: string | null;
  /** Slack timestamp kept by an imported message, unique within its conversation. */
  slack_ts?: string | null;
  /** JSON of the display name and icon a webhook or bot post chose (BotProfile in src/slack/api/present.ts). */
  bot_profile?: string | null;
}

export interface StreamRow {
  id: string;
  last_seq: number;
  /** Lowest sequence number still stored; older events were removed by retention. */
  min_seq: number;
}

export interface EventRow {
  stream_id: string;
  seq: number;
  type: string;
  payload: string;
  created_at: number;
}

/** A member mentioned by a message; user_id '' stands for every member (@channel, @team). */
export interface MessageMentionRow {
  message_id: string;
  user_id: string;
  conversation_id: string;
  thread_root_id: string | null;
  /** 1 when the message shows in the channel timeline (not a reply, or a reply also sent there). */
  in_timeline: number;
  author_id: string;
  seq: number;
}

/** A user's read position in one thread, and whether the thread is in their threads view. */
export interface ThreadReadRow {
  user_id: string;
  thread_root_id: string;
  conversation_id: string;
  following: number;
  last_read_seq: number;
  updated_at: number;
}

export interface ReactionRow {
  message_id: string;
  /** The emoji as its fully-qualified Unicode sequence. */
  emoji: string;
  user_id: string;
  conversation_id: string;
  /** Seq of the reaction.added event, which orders reactions. */
  seq: number;
  created_at: number;
}

export interface PinRow {
  conversation_id: string;
  message_id: string;
  pinned_by: string;
  seq: number;
  pinned_at: number;
}

export interface SavedItemRow {
  user_id: string;
  message_id: string;
  conversation_id: string;
  saved_at: number;
}

/** An earlier text of an edited message: version 1 is the text first posted. */
export interface MessageVersionRow {
  message_id: string;
  version: number;
  text: string;
  written_at: number;
  replaced_at: number;
}

/** Team policy; a team without a row uses the defaults (no limits). */
export interface TeamSettingsRow {
  team_id: string;
  /** Seconds after posting during which the author may edit; null allows editing at any time. */
  edit_window_seconds: number | null;
  /** Seconds after posting during which the author may delete; null allows it at any time. */
  delete_window_seconds: number | null;
  /** Channels with more members than this accept @channel, @here and @team only from team admins; null for no limit. */
  broadcast_member_limit: number | null;
  updated_at: number;
  /** Days after which messages are deleted; null keeps them forever. */
  retention_days?: number | null;
}

/** A shared file; message_id is null until a message claims the upload. */
export interface FileRow {
  id: string;
  team_id: string;
  conversation_id: string;
  message_id: string | null;
  uploader_id: string;
  name: string;
  mime_type: string;
  size: number;
  /** Hex SHA-256 of the plaintext, computed while the upload streamed. */
  sha256: string;
  /** Object name in the file store. */
  blob_key: string;
  /** The file's data key, wrapped by the master key; null when stored unencrypted. */
  wrapped_key: string | null;
  master_key_id: string | null;
  width: number | null;
  height: number | null;
  thumbnail_key: string | null;
  /** The thumbnail's own data key, wrapped like wrapped_key. */
  thumbnail_wrapped_key: string | null;
  thumbnail_master_key_id: string | null;
  thumbnail_size: number | null;
  created_at: number;
  deleted_at: number | null;
}

/** A single-use recovery code of the second factor, stored as a SHA-256 hash. */
export interface RecoveryCodeRow {
  user_id: string;
  code_hash: string;
  created_at: number;
  used_at: number | null;
}

/** A login that passed the password and waits for the second factor. */
export interface LoginChallengeRow {
  challenge_hash: string;
  user_id: string;
  failed_attempts: Generated<number>;
  expires_at: number;
}

/** One security-relevant event. Rows are only ever inserted. */
export interface AuditLogRow {
  id: string;
  at: number;
  /** Dotted name such as `login.failed` or `team.role_changed`; docs/security.md lists them. */
  action: string;
  /** User who acted; null for the server itself or an unknown login. */
  actor_id: string | null;
  target_type: string | null;
  target_id: string | null;
  /** Team the event belongs to, which makes it visible to that team's owners. */
  team_id: string | null;
  address: string | null;
  /** JSON object with details of the action. */
  details: string;
}

/** A resumable upload in progress; its bytes are in the staging area under the same id. */
export interface UploadRow {
  id: string;
  team_id: string;
  conversation_id: string;
  uploader_id: string;
  name: string;
  mime_type: string;
  /** Declared length in bytes. */
  size: number;
  created_at: number;
  expires_at: number;
}

/**
 * A message or a shared file in the search index. The indexed terms live in
 * the engine's own structure (an FTS5 table on SQLite, a tsvector column on
 * PostgreSQL; see src/search/). `doc_id` orders documents by indexing time.
 */
export interface SearchDocumentRow {
  doc_id: Generated<number>;
  message_id: string | null;
  file_id: string | null;
  conversation_id: string;
  /** The message's author or the file's uploader. */
  author_id: string;
  created_at: number;
  /** 1 when the message has a link entity. */
  has_link: number;
}

/** A background job; src/jobs/runner.ts takes, runs and retries it. */
export interface JobRow {
  id: string;
  kind: string;
  /** JSON given to the job's handler. */
  payload: string;
  /** Unique among all jobs, done ones included, so one piece of work is enqueued once; null for none. */
  dedupe_key: string | null;
  status: 'pending' | 'done' | 'failed';
  /** Earliest time of the next attempt. */
  run_at: number;
  attempts: number;
  max_attempts: number;
  /** Random token of the attempt that holds the lease; null when no attempt runs. */
  lease_token: string | null;
  lease_until: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
}

/** A user's manual presence status, do-not-disturb settings and last activity. */
export interface PresenceSettingsRow {
  user_id: string;
  /** 'away' while set by hand; null for automatic. */
  manual_status: string | null;
  /** End of a do-not-disturb period set by hand; null for none. */
  dnd_until: number | null;
  /** JSON of the daily do-not-disturb schedule in the user's time zone; null for none. */
  dnd_schedule: string | null;
  last_active_at: number | null;
  updated_at: number;
}

/** A user's notification level and keywords; a user without a row has the defaults. */
export interface NotificationPreferencesRow {
  user_id: string;
  /** 'all', 'mentions' or 'none'. */
  level: string;
  /** JSON array of keywords that notify like a mention. */
  keywords: string;
  updated_at: number;
}

/** A user's notification settings for one conversation, overriding their own level. */
export interface ConversationNotificationRow {
  user_id: string;
  conversation_id: string;
  /** 'all', 'mentions' or 'none'; null follows the user's level. */
  level: string | null;
  muted: number;
  updated_at: number;
}

/** A user already notified of a mention in a message; user_id '' stands for @channel, @here and @team. */
export interface NotifiedMentionRow {
  message_id: string;
  user_id: string;
}

/** A device that receives push notifications: a Web Push subscription, or a native token of another sender kind. */
export interface PushSubscriptionRow {
  id: string;
  user_id: string;
  /** The session that registered it; pushes stop when that session ends. */
  session_id: string;
  /** Sender that delivers to it: 'webpush', or the kind of a native sender. */
  kind: string;
  /** Push service URL of a Web Push subscription, or the device token of a native one. */
  endpoint: string;
  /** Base64url P-256 public key of the user agent (Web Push only). */
  p256dh: string | null;
  /** Base64url authentication secret (Web Push only). */
  auth: string | null;
  /** VAPID public key the subscription was made for; pushes signed by another key are rejected by the push service. */
  vapid_public_key: string | null;
  user_agent: string | null;
  created_at: number;
  last_success_at: number | null;
}

/** A bot account of one team, created by a team admin for the Slack Web API or a webhook. */
export interface BotRow {
  user_id: string;
  team_id: string;
  created_by: string;
  created_at: number;
}

/** A Slack API bot token (`xoxb-`), stored as its SHA-256 hash. */
export interface BotTokenRow {
  id: string;
  bot_user_id: string;
  team_id: string;
  token_hash: string;
  created_by: string;
  created_at: number;
  revoked_at: number | null;
}

/** An incoming webhook: its secret URL token (hashed) posts into one channel as its own bot user. */
export interface WebhookRow {
  id: string;
  team_id: string;
  conversation_id: string;
  bot_user_id: string;
  name: string;
  token_hash: string;
  created_by: string;
  created_at: number;
}

/** A file announced by files.getUploadURLExternal, waiting for files.completeUploadExternal. */
export interface SlackUploadRow {
  id: string;
  bot_user_id: string;
  team_id: string;
  name: string;
  title: string | null;
  /** Length in bytes the bot declared. */
  length: number;
  /** JSON of the stored blob once the bytes arrived; null before. */
  blob: string | null;
  created_at: number;
  expires_at: number;
}

/** One run of the Slack importer and its report so far. */
export interface SlackImportRow {
  id: string;
  team_id: string;
  /** User who started the run through the API; null for the command line. */
  started_by: string | null;
  /** 'interrupted' is a run whose node stopped or went silent before it ended; starting the import again resumes it. */
  status: 'running' | 'done' | 'failed' | 'interrupted';
  /** Folder or zip file read, as given. */
  source: string;
  /** JSON of the run's report: counts per kind and the problems found. */
  report: string;
  /** Message of the error that stopped a failed or interrupted run. */
  error: string | null;
  created_at: number;
  /** Refreshed by the running node's heartbeat and progress writes; a running row left unrefreshed is stale. */
  updated_at: number;
  finished_at: number | null;
}

/** The ChatterBox id of a Slack user, bot, conversation or file imported into a team. */
export interface SlackImportIdRow {
  team_id: string;
  kind: 'user' | 'bot' | 'conversation' | 'file';
  slack_id: string;
  local_id: string;
}

export interface Database {
  users: UserRow;
  sessions: SessionRow;
  ws_tickets: WsTicketRow;
  teams: TeamRow;
  team_members: TeamMemberRow;
  conversations: ConversationRow;
  conversation_members: ConversationMemberRow;
  messages: MessageRow;
  streams: StreamRow;
  events: EventRow;
  message_mentions: MessageMentionRow;
  thread_reads: ThreadReadRow;
  reactions: ReactionRow;
  pins: PinRow;
  saved_items: SavedItemRow;
  message_versions: MessageVersionRow;
  team_settings: TeamSettingsRow;
  files: FileRow;
  recovery_codes: RecoveryCodeRow;
  login_challenges: LoginChallengeRow;
  audit_log: AuditLogRow;
  uploads: UploadRow;
  search_documents: SearchDocumentRow;
  jobs: JobRow;
  presence_settings: PresenceSettingsRow;
  notification_preferences: NotificationPreferencesRow;
  conversation_notifications: ConversationNotificationRow;
  notified_mentions: NotifiedMentionRow;
  push_subscriptions: PushSubscriptionRow;
  bots: BotRow;
  bot_tokens: BotTokenRow;
  webhooks: WebhookRow;
  slack_uploads: SlackUploadRow;
  slack_imports: SlackImportRow;
  slack_import_ids: SlackImportIdRow;
}

