import type { Kysely } from 'kysely';

/**
 * Bot accounts and message origins, shared by the Slack importer, incoming
 * webhooks and the Slack Web API: a flag marking bot users, a subtype naming
 * messages that are not plain user posts, and the Slack timestamp an imported
 * message kept, so Slack clients can address it by its old identifier.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').addColumn('is_bot', 'integer', (col) => col.notNull().defaultTo(0)).execute();

  // Null for an ordinary post; 'bot_message' for webhooks and bots, other Slack subtypes for system lines.
  await db.schema.alterTable('messages').addColumn('subtype', 'text').execute();
  await db.schema.alterTable('messages').addColumn('slack_ts', 'text').execute();
  // NULLs never collide, so only messages that kept a Slack timestamp are constrained.
  await db.schema
    .createIndex('messages_conversation_slack_ts_idx')
    .on('messages')
    .columns(['conversation_id', 'slack_ts'])
    .unique()
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('messages_conversation_slack_ts_idx').execute();
  await db.schema.alterTable('messages').dropColumn('slack_ts').execute();
  await db.schema.alterTable('messages').dropColumn('subtype').execute();
  await db.schema.alterTable('users').dropColumn('is_bot').execute();
}
