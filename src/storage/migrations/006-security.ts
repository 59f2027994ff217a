import type { Kysely } from 'kysely';

/**
 * Account security and the audit log: deactivation, TOTP second factors with
 * recovery codes, pending second-factor logins, the address of each session,
 * the append-only audit log and each team's message retention.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').addColumn('deactivated_at', 'bigint').execute();
  // Base32 TOTP secrets: the confirmed one, and one awaiting its first code during setup.
  await db.schema.alterTable('users').addColumn('totp_secret', 'text').execute();
  await db.schema.alterTable('users').addColumn('totp_pending_secret', 'text').execute();
  // Highest 30-second time step whose code was accepted, so a code cannot be used twice.
  await db.schema.alterTable('users').addColumn('totp_last_step', 'bigint').execute();

  await db.schema.alterTable('sessions').addColumn('address', 'text').execute();

  await db.schema
    .createTable('recovery_codes')
    .addColumn('user_id', 'text', (col) => col.notNull().references('users.id'))
    .addColumn('code_hash', 'text', (col) => col.notNull())
    .addColumn('created_at', 'bigint', (col) => col.notNull())
    .addColumn('used_at', 'bigint')
    .addPrimaryKeyConstraint('recovery_codes_pk', ['user_id', 'code_hash'])
    .execute();

  await db.schema
    .createTable('login_challenges')
    .addColumn('challenge_hash', 'text', (col) => col.primaryKey())
    .addColumn('user_id', 'text', (col) => col.notNull())
    .addColumn('failed_attempts', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('expires_at', 'bigint', (col) => col.notNull())
    .execute();
  await db.schema.createIndex('login_challenges_user_idx').on('login_challenges').column('user_id').execute();

  await db.schema
    .createTable('audit_log')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('at', 'bigint', (col) => col.notNull())
    .addColumn('action', 'text', (col) => col.notNull())
    .addColumn('actor_id', 'text')
    .addColumn('target_type', 'text')
    .addColumn('target_id', 'text')
    .addColumn('team_id', 'text')
    .addColumn('address', 'text')
    .addColumn('details', 'text', (col) => col.notNull().defaultTo('{}'))
    .execute();
  await db.schema.createIndex('audit_log_time_idx').on('audit_log').columns(['at', 'id']).execute();
  await db.schema.createIndex('audit_log_team_idx').on('audit_log').columns(['team_id', 'at', 'id']).execute();

  await db.schema.alterTable('team_settings').addColumn('retention_days', 'integer').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('team_settings').dropColumn('retention_days').execute();
  await db.schema.dropTable('audit_log').execute();
  await db.schema.dropTable('login_challenges').execute();
  await db.schema.dropTable('recovery_codes').execute();
  await db.schema.alterTable('sessions').dropColumn('address').execute();
  for (const column of ['totp_last_step', 'totp_pending_secret', 'totp_secret', 'deactivated_at']) {
    await db.schema.alterTable('users').dropColumn(column).execute();
  }
}
