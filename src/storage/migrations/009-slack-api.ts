import type { Kysely } from 'kysely';

/**
 * Slack Web API bots and incoming webhooks. Bot tokens and webhook URL tokens
 * are stored as SHA-256 hashes, like session tokens, so a copy of the
 * database does not hand out working credentials. Each webhook posts as a bot
 * user of its own, and a file uploaded through files.getUploadURLExternal
 * waits in slack_uploads until files.completeUploadExternal shares it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('bots')
    .addColumn('user_id', 'text', (col) => col.primaryKey().references('users.id'))
    .addColumn('team_id', 'text', (col) => col.notNull().references('teams.id'))
    .addColumn('created_by', 'text', (col) => col.notNull())
    .addColumn('created_at', 'bigint', (col) => col.notNull())
    .execute();
  await db.schema.createIndex('bots_team_idx').on('bots').column('team_id').execute();

  await db.schema
    .createTable('bot_tokens')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('bot_user_id', 'text', (col) => col.notNull().references('users.id'))
    .addColumn('team_id', 'text', (col) => col.notNull())
    .addColumn('token_hash', 'text', (col) => col.notNull().unique())
    .addColumn('created_by', 'text', (col) => col.notNull())
    .addColumn('created_at', 'bigint', (col) => col.notNull())
    // Kept after revocation, so a revoked token answers token_revoked rather than invalid_auth.
    .addColumn('revoked_at', 'bigint')
    .execute();
  await db.schema.createIndex('bot_tokens_bot_idx').on('bot_tokens').column('bot_user_id').execute();

  await db.schema
    .createTable('webhooks')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('team_id', 'text', (col) => col.notNull().references('teams.id'))
    .addColumn('conversation_id', 'text', (col) => col.notNull().references('conversations.id'))
    .addColumn('bot_user_id', 'text', (col) => col.notNull().references('users.id'))
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('token_hash', 'text', (col) => col.notNull().unique())
    .addColumn('created_by', 'text', (col) => col.notNull())
    .addColumn('created_at', 'bigint', (col) => col.notNull())
    .execute();
  await db.schema.createIndex('webhooks_team_idx').on('webhooks').columns(['team_id', 'created_at']).execute();

  await db.schema
    .createTable('slack_uploads')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('bot_user_id', 'text', (col) => col.notNull())
    .addColumn('team_id', 'text', (col) => col.notNull())
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('title', 'text')
    .addColumn('length', 'bigint', (col) => col.notNull())
    // Set once the bytes arrived: the vault's blob and what the files row will record.
    .addColumn('blob', 'text')
    .addColumn('created_at', 'bigint', (col) => col.notNull())
    .addColumn('expires_at', 'bigint', (col) => col.notNull())
    .execute();

  // Display name and icon a webhook or bot post chose for itself (JSON), shown instead of the bot's profile.
  await db.schema.alterTable('messages').addColumn('bot_profile', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('messages').dropColumn('bot_profile').execute();
  await db.schema.dropTable('slack_uploads').execute();
  await db.schema.dropTable('webhooks').execute();
  await db.schema.dropTable('bot_tokens').execute();
  await db.schema.dropTable('bots').execute();
}
