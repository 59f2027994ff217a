import type { Kysely } from 'kysely';

/**
 * Slack import runs and the map from Slack ids to ChatterBox ids. The map
 * makes a repeated or resumed import find what an earlier run created:
 * users, conversations and files. Messages need no map rows, because each
 * imported message keeps its Slack timestamp in `messages.slack_ts`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('slack_imports')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('team_id', 'text', (col) => col.notNull())
    .addColumn('started_by', 'text')
    // 'running', 'done' or 'failed'.
    .addColumn('status', 'text', (col) => col.notNull())
    .addColumn('source', 'text', (col) => col.notNull())
    .addColumn('report', 'text', (col) => col.notNull())
    .addColumn('error', 'text')
    .addColumn('created_at', 'bigint', (col) => col.notNull())
    .addColumn('updated_at', 'bigint', (col) => col.notNull())
    .addColumn('finished_at', 'bigint')
    .execute();
  await db.schema.createIndex('slack_imports_team_idx').on('slack_imports').columns(['team_id', 'created_at']).execute();

  await db.schema
    .createTable('slack_import_ids')
    .addColumn('team_id', 'text', (col) => col.notNull())
    // 'user', 'bot', 'conversation' or 'file'.
    .addColumn('kind', 'text', (col) => col.notNull())
    .addColumn('slack_id', 'text', (col) => col.notNull())
    .addColumn('local_id', 'text', (col) => col.notNull())
    .addPrimaryKeyConstraint('slack_import_ids_pk', ['team_id', 'kind', 'slack_id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('slack_import_ids').execute();
  await db.schema.dropTable('slack_imports').execute();
}
