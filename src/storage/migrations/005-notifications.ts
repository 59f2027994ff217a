import type { Kysely } from 'kysely';

/**
 * Background jobs, presence settings, notification preferences and push
 * subscriptions. Uses only the portable schema builder, so the same
 * migration runs on SQLite and PostgreSQL.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('jobs')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('kind', 'text', (col) => col.notNull())
    .addColumn('payload', 'text', (col) => col.notNull())
    .addColumn('dedupe_key', 'text', (col) => col.unique())
    .addColumn('status', 'text', (col) => col.notNull())
    .addColumn('run_at', 'bigint', (col) => col.notNull())
    .addColumn('attempts', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('max_attempts', 'integer', (col) => col.notNull())
    .addColumn('lease_token', 'text')
    .addColumn('lease_until', 'bigint')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'bigint', (col) => col.notNull())
    .addColumn('updated_at', 'bigint', (col) => col.notNull())
    .execute();
  // The runner's scan for due work: pending jobs in run_at order.
  await db.schema.createIndex('jobs_due_idx').on('jobs').columns(['status', 'run_at']).execute();

  await db.schema
    .createTable('presence_settings')
    .addColumn('user_id', 'text', (col) => col.primaryKey())
    .addColumn('manual_status', 'text')
    .addColumn('dnd_until', 'bigint')
    .addColumn('dnd_schedule', 'text')
    .addColumn('last_active_at', 'bigint')
    .addColumn('updated_at', 'bigint', (col) => col.notNull())
    .execute();

  await db.schema
    .createTable('notification_preferences')
    .addColumn('user_id', 'text', (col) => col.primaryKey())
    .addColumn('level', 'text', (col) => col.notNull())
    .addColumn('keywords', 'text', (col) => col.notNull().defaultTo('[]'))
    .addColumn('updated_at', 'bigint', (col) => col.notNull())
    .execute();

  await db.schema
    .createTable('conversation_notifications')
    .addColumn('user_id', 'text', (col) => col.notNull())
    .addColumn('conversation_id', 'text', (col) => col.notNull())
    .addColumn('level', 'text')
    .addColumn('muted', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('updated_at', 'bigint', (col) => col.notNull())
    .addPrimaryKeyConstraint('conversation_notifications_pk', ['user_id', 'conversation_id'])
    .execute();
  // The notification pipeline reads the settings of every member of one conversation.
  await db.schema
    .createIndex('conversation_notifications_conversation_idx')
    .on('conversation_notifications')
    .columns(['conversation_id', 'user_id'])
    .execute();

  await db.schema
    .createTable('notified_mentions')
    .addColumn('message_id', 'text', (col) => col.notNull())
    .addColumn('user_id', 'text', (col) => col.notNull())
    .addPrimaryKeyConstraint('notified_mentions_pk', ['message_id', 'user_id'])
    .execute();

  await db.schema
    .createTable('push_subscriptions')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('user_id', 'text', (col) => col.notNull())
    .addColumn('session_id', 'text', (col) => col.notNull())
    .addColumn('kind', 'text', (col) => col.notNull())
    .addColumn('endpoint', 'text', (col) => col.notNull())
    .addColumn('p256dh', 'text')
    .addColumn('auth', 'text')
    .addColumn('vapid_public_key', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('created_at', 'bigint', (col) => col.notNull())
    .addColumn('last_success_at', 'bigint')
    .execute();
  // One device belongs to one user: registering it again, under any account, replaces the row.
  await db.schema.createIndex('push_subscriptions_endpoint_idx').on('push_subscriptions').columns(['kind', 'endpoint']).unique().execute();
  await db.schema.createIndex('push_subscriptions_user_idx').on('push_subscriptions').column('user_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['push_subscriptions', 'notified_mentions', 'conversation_notifications', 'notification_preferences', 'presence_settings', 'jobs']) {
    await db.schema.dropTable(table).execute();
  }
}
