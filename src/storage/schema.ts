/** Row types of every table, as Kysely sees them. Times are Unix milliseconds. */
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
}

export interface SessionRow {
  id: string;
  user_id: string;
  token_hash: string;
  created_at: number;
  expires_at: number;
  last_seen_at: number;
  user_agent: string | null;
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
}

