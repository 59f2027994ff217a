import { sql } from 'kysely';
import { prepareQuery } from '../storage/compiled-query.js';
import type { Db } from '../storage/database.js';
import type { StreamId } from './events.js';

/** One stream a starting socket subscribes to, with its head and oldest stored seq. */
export interface StartStream {
  stream: StreamId;
  /** Team of a conversation stream, undefined for the user's own stream and for team streams. */
  teamId: string | undefined;
  /** Position of the stream, or undefined for a stream with no stored events yet. */
  position: { lastSeq: number; minSeq: number } | undefined;
}

interface StartStreamRow {
  stream_id: string;
  team_id: string | null;
  last_seq: number | string | null;
  min_seq: number | string | null;
}

/**
 * The user's own stream, the streams of their teams and of their conversations in those teams,
 * each with its `streams` row. One statement reads them all, so the memberships and heads come
 * from one snapshot. The own stream is listed only when it has a row. The string concatenation `||` and `CAST(NULL AS TEXT)` mean the same on SQLite and
 * PostgreSQL. The statement lists its columns, because PostgreSQL runs it as a named prepared
 * statement.
 */
const startStreamsQuery = prepareQuery<{ userId: string; ownStream: string }>()((db, param) => {
  const text = sql<StartStreamRow>`SELECT s.id AS stream_id, CAST(NULL AS TEXT) AS team_id, s.last_seq, s.min_seq
      FROM streams s WHERE s.id = ${param('ownStream')}
    UNION ALL
    SELECT 't:' || tm.team_id, CAST(NULL AS TEXT), s.last_seq, s.min_seq
      FROM team_members tm LEFT JOIN streams s ON s.id = 't:' || tm.team_id
      WHERE tm.user_id = ${param('userId')}
    UNION ALL
    SELECT 'c:' || c.id, c.team_id, s.last_seq, s.min_seq
      FROM conversation_members cm
      INNER JOIN conversations c ON c.id = cm.conversation_id
      INNER JOIN team_members tm ON tm.team_id = c.team_id AND tm.user_id = ${param('userId')}
      LEFT JOIN streams s ON s.id = 'c:' || c.id
      WHERE cm.user_id = ${param('userId')}`;
  return { compile: () => text.compile(db) };
});

/**
 * Lists the streams a starting socket subscribes to: the user's own stream first, then each team
 * the user belongs to, then each conversation the user belongs to in a team they still belong to.
 * So direct messages of a team the user left are not listed.
 */
export async function listStartStreams(db: Db, userId: string, ownStream: StreamId): Promise<StartStream[]> {
  const { rows } = await startStreamsQuery.execute(db, { userId, ownStream });
  const streams: StartStream[] = [{ stream: ownStream, teamId: undefined, position: undefined }];
  for (const row of rows) {
    const position = row.last_seq === null ? undefined : { lastSeq: Number(row.last_seq), minSeq: Number(row.min_seq) };
    if (row.stream_id === ownStream) streams[0]!.position = position;
    else streams.push({ stream: row.stream_id, teamId: row.team_id ?? undefined, position });
  }
  return streams;
}
