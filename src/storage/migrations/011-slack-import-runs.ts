import { sql, type Kysely } from 'kysely';

/**
 * Allows one running Slack import per team across all nodes: a partial unique
 * index over the team of rows in state 'running'. Runs left 'running' by a
 * killed process become 'interrupted' first, keeping the newest run of each
 * team running, so the index can be built; the staleness check of
 * src/slack/import/run.ts ends that one too if its process is gone.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    UPDATE slack_imports SET status = 'interrupted', finished_at = updated_at,
      error = 'The process running this import stopped; start the import again to resume'
    WHERE status = 'running' AND EXISTS (
      SELECT 1 FROM slack_imports AS newer
      WHERE newer.team_id = slack_imports.team_id AND newer.status = 'running'
        AND (newer.created_at > slack_imports.created_at OR (newer.created_at = slack_imports.created_at AND newer.id > slack_imports.id))
    )`.execute(db);
  await db.schema
    .createIndex('slack_imports_running_idx')
    .unique()
    .on('slack_imports')
    .column('team_id')
    .where(sql<boolean>`status = 'running'`)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('slack_imports_running_idx').execute();
}
