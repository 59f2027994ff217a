import fs from 'node:fs';
import path from 'node:path';
import type { TestUser } from '../helpers/factories.js';
import type { Db } from '../../src/storage/database.js';

export const FIXTURES = path.resolve(import.meta.dirname, '../fixtures');

/** Counts computed from an export's JSON alone, without the importer's code. */
export interface ExportCounts {
  users: number;
  channels: number;
  directMessages: number;
  /** Messages whose author users.json lists, or bot messages. */
  messages: number;
  threads: number;
  replies: number;
  reactions: number;
  edits: number;
}

interface JsonMessage {
  ts?: string;
  user?: string;
  bot_id?: string;
  subtype?: string;
  thread_ts?: string;
  edited?: unknown;
  comment?: { user?: string };
  reactions?: Array<{ users?: string[] }>;
}

function readList(folder: string, name: string): Array<{ id: string; name?: string; members?: string[] }> {
  const file = path.join(folder, name);
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : [];
}

export function countExport(folder: string): ExportCounts {
  const users = new Set(readList(folder, 'users.json').map((user) => user.id));
  const lists = [
    ...readList(folder, 'channels.json').map((entry) => entry.name ?? entry.id),
    ...readList(folder, 'groups.json').map((entry) => entry.name ?? entry.id),
    ...readList(folder, 'dms.json').map((entry) => entry.id),
    ...readList(folder, 'mpims.json').map((entry) => entry.name ?? entry.id),
  ];
  const counts: ExportCounts = {
    users: users.size,
    channels: readList(folder, 'channels.json').length + readList(folder, 'groups.json').length,
    directMessages: readList(folder, 'dms.json').length + readList(folder, 'mpims.json').length,
    messages: 0,
    threads: 0,
    replies: 0,
    reactions: 0,
    edits: 0,
  };
  for (const conversation of lists) {
    const dir = path.join(folder, conversation);
    if (!fs.existsSync(dir)) continue;
    const messages = fs
      .readdirSync(dir)
      .filter((file) => file.endsWith('.json'))
      .flatMap((file) => JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as JsonMessage[])
      .filter((message) => {
        const author = message.user ?? message.comment?.user;
        return author !== undefined ? users.has(author) || message.subtype === 'bot_message' || author === 'USLACKBOT' : message.bot_id !== undefined;
      });
    const roots = new Set(messages.map((message) => message.ts));
    const threads = new Set<string>();
    for (const message of messages) {
      counts.messages += 1;
      if (message.edited !== undefined) counts.edits += 1;
      for (const reaction of message.reactions ?? []) counts.reactions += reaction.users?.length ?? 0;
      if (message.thread_ts !== undefined && message.thread_ts !== message.ts && roots.has(message.thread_ts)) {
        counts.replies += 1;
        threads.add(message.thread_ts);
      }
    }
    counts.threads += threads.size;
  }
  return counts;
}

/** Counts what a team contains after an import, read from the database. */
export async function countTeam(db: Db, teamId: string) {
  const conversations = await db.selectFrom('conversations').select(['id', 'kind']).where('team_id', '=', teamId).execute();
  const ids = conversations.map((row) => row.id);
  const messages = await db.selectFrom('messages').select(['root_id', 'edited_at']).where('conversation_id', 'in', ids).where('slack_ts', 'is not', null).execute();
  const reactions = await db.selectFrom('reactions').select('message_id').where('conversation_id', 'in', ids).execute();
  return {
    channels: conversations.filter((row) => row.kind === 'public' || row.kind === 'private').length,
    directMessages: conversations.filter((row) => row.kind === 'dm' || row.kind === 'group').length,
    members: (await db.selectFrom('team_members').select('user_id').where('team_id', '=', teamId).execute()).length,
    messages: messages.length,
    replies: messages.filter((row) => row.root_id !== null).length,
    threads: new Set(messages.flatMap((row) => (row.root_id === null ? [] : [row.root_id]))).size,
    edits: messages.filter((row) => row.edited_at !== null).length,
    reactions: reactions.length,
  };
}

export interface RunView {
  id: string;
  status: string;
  error: string | null;
  report: {
    counts: Record<string, { imported: number; merged: number; existing: number; skipped: number }>;
    replies: number;
    file_placeholders: number;
    problems: Array<{ kind: string; path: string; ts?: string; reason: string }>;
    problem_count: number;
    created_accounts: Array<{ user_id: string; username: string; email: string; is_bot: boolean }>;
  };
}

/** Starts an import of a server path through the API and waits for it to end. */
export async function importPath(admin: TestUser, teamId: string, folder: string): Promise<RunView> {
  const started = await admin.api.post<RunView>(`/api/teams/${teamId}/slack-imports`, { path: folder });
  return waitForRun(admin, teamId, started.id);
}

export async function waitForRun(user: TestUser, teamId: string, runId: string): Promise<RunView> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const run = await user.api.get<RunView>(`/api/teams/${teamId}/slack-imports/${runId}`);
    if (run.status !== 'running') return run;
    if (Date.now() > deadline) throw new Error(`import ${runId} still running after 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
