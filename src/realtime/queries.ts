import { sql } from 'kysely';
import { prepareSql } from '../storage/compiled-query.js';
import type { Db } from '../storage/database.js';
import type { StreamId } from './events.js';

/** Position of a stream: its head and its oldest stored seq. */
export interface StreamPosition {
  lastSeq: number;
  minSeq: number;
}

/** The streams a starting socket subscribes to, and the position of the user's own stream. */
export interface StartStreams {
  /** Position of the user's own stream, or undefined while it has no stored events. */
  ownPosition: StreamPosition | undefined;
  /** Each team stream, then each conversation stream with the conversation's team. */
  streams: Array<{ stream: StreamId; teamId: string | undefined }>;
}

interface StartStreamRow {
  stream_id: string;
  team_id: string | null;
  last_seq: number | string | null;
  min_seq: number | string | null;
}

/**
 * Reads the `streams` row of the user's own stream, if it has one, then the streams of the user's
 * teams and of their conversations in those teams, in one statement and so from one snapshot. Only
 * the own stream's row carries a position, because the other heads are read after those streams
 * are subscribed. The string concatenation `||` and `CAST(NULL AS TEXT)` mean the same on SQLite and
 * PostgreSQL. The statement lists its columns, because PostgreSQL runs it as a named prepared
 * statement.
 */
const startStreamsQuery = prepareSql<{ userId: string; ownStream: string }>()(
  (param) => sql<StartStreamRow>`SELECT s.id AS stream_id, CAST(NULL AS TEXT) AS team_id, s.last_seq, s.min_seq
      FROM streams s WHERE s.id = ${param('ownStream')}
    UNION ALL
    SELECT 't:' || tm.team_id, CAST(NULL AS TEXT), NULL, NULL
      FROM team_members tm
      WHERE tm.user_id = ${param('userId')}
    UNION ALL
    SELECT 'c:' || c.id, c.team_id, NULL, NULL
      FROM conversation_members cm
      INNER JOIN conversations c ON c.id = cm.conversation_id
      INNER JOIN team_members tm ON tm.team_id = c.team_id AND tm.user_id = ${param('userId')}
      WHERE cm.user_id = ${param('userId')}`,
);

/**
 * Reads the position of the user's own stream and lists the streams of each team the user belongs
 * to and of each conversation the user belongs to in a team they still belong to. So direct
 * messages of a team the user left are not listed.
 */
export async function listStartStreams(db: Db, userId: string, ownStream: StreamId): Promise<StartStreams> {
  const { rows } = await startStreamsQuery.execute(db, { userId, ownStream });
  const result: StartStreams = { ownPosition: undefined, streams: [] };
  for (const row of rows) {
    if (row.stream_id === ownStream) result.ownPosition = { lastSeq: Number(row.last_seq), minSeq: Number(row.min_seq) };
    else result.streams.push({ stream: row.stream_id, teamId: row.team_id ?? undefined });
  }
  return result;
}
