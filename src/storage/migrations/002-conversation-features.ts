import { sql, type Kysely } from 'kysely';

/**
 * Mentions, reactions, read positions, thread follows, pins, saved items,
 * edit history and team settings. Uses only the portable schema builder and
 * SQL that SQLite and PostgreSQL share.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Parsed mention and link entities of the current text, as JSON; see docs/formatting.md.
  await db.schema
    .alterTable('messages')
    .addColumn('entities', 'text', (col) => col.notNull().defaultTo('{"mentions":[],"links":[]}'))
    .execute();

  // Covers the unread count of the sidebar: a count over (conversation, seq > read) reads only this
  // partial index, whose entries are the live channel-timeline messages. Queries must repeat the
  // index's condition (UNREAD_TIMELINE in src/reads/queries.ts) for SQLite to use it, and SQLite reads
  // the table row to check it unless the condition's columns are in the index too.
  await db.schema
    .createIndex('messages_timeline_unread_idx')
    .on('messages')
    .columns(['conversation_id', 'seq', 'author_id', 'deleted_at', 'root_id', 'also_in_channel'])
    .where(sql<boolean>`deleted_at IS NULL AND (root_id IS NULL OR also_in_channel = 1)`)
    .execute();

  // Read position in the conversation stream. Existing members start at the stream's head, so the
  // upgrade does not mark every old message unread.
  await db.schema
    .alterTable('conversation_members')
    .addColumn('last_read_seq', 'bigint', (col) => col.notNull().defaultTo(0))
    .execute();
  await sql`UPDATE conversation_members SET last_read_seq = COALESCE(
    (SELECT last_seq FROM streams WHERE streams.id = 'c:' || conversation_members.conversation_id), 0)`.execute(db);

  // One row per mentioned member of the conversation, or one row with user_id '' for @channel and
  // @team, so a broadcast to thousands of members costs one row. @here is not counted.
  await db.schema
    .createTable('message_mentions')
    .addColumn('message_id', 'text', (col) => col.notNull())
    .addColumn('user_id', 'text', (col) => col.notNull())
    .addColumn('conversation_id', 'text', (col) => col.notNull())
    .addColumn('thread_root_id', 'text')
    .addColumn('in_timeline', 'integer', (col) => col.notNull())
    .addColumn('author_id', 'text', (col) => col.notNull())
    .addColumn('seq', 'bigint', (col) => col.notNull())
    .addPrimaryKeyConstraint('message_mentions_pk', ['message_id', 'user_id'])
    .execute();
  // Both indexes cover their mention counts (src/reads/queries.ts), so counting reads no table rows.
  await db.schema
    .createIndex('message_mentions_conversation_idx')
    .on('message_mentions')
    .columns(['conversation_id', 'user_id', 'seq', 'in_timeline', 'author_id'])
    .execute();
  await db.schema
    .createIndex('message_mentions_thread_idx')
    .on('message_mentions')
    .columns(['thread_root_id', 'user_id', 'seq', 'author_id'])
    .execute();

  await db.schema
    .createTable('thread_reads')
    .addColumn('user_id', 'text', (col) => col.notNull())
    .addColumn('thread_root_id', 'text', (col) => col.notNull())
    .addColumn('conversation_id', 'text', (col) => col.notNull())
    .addColumn('following', 'integer', (col) => col.notNull())
    .addColumn('last_read_seq', 'bigint', (col) => col.notNull())
    .addColumn('updated_at', 'bigint', (col) => col.notNull())
    .addPrimaryKeyConstraint('thread_reads_pk', ['user_id', 'thread_root_id'])
    .execute();
  await db.schema
    .createIndex('thread_reads_conversation_idx')
    .on('thread_reads')
    .columns(['conversation_id', 'user_id'])
    .execute();

  await db.schema
    .createTable('reactions')
    .addColumn('message_id', 'text', (col) => col.notNull())
    .addColumn('emoji', 'text', (col) => col.notNull())
    .addColumn('user_id', 'text', (col) => col.notNull())
    .addColumn('conversation_id', 'text', (col) => col.notNull())
    // The seq of the reaction.added event: orders reactions the same way for every client.
    .addColumn('seq', 'bigint', (col) => col.notNull())
    .addColumn('created_at', 'bigint', (col) => col.notNull())
    .addPrimaryKeyConstraint('reactions_pk', ['message_id', 'emoji', 'user_id'])
    .execute();

  await db.schema
    .createTable('pins')
    .addColumn('conversation_id', 'text', (col) => col.notNull())
    .addColumn('message_id', 'text', (col) => col.notNull())
    .addColumn('pinned_by', 'text', (col) => col.notNull())
    .addColumn('seq', 'bigint', (col) => col.notNull())
    .addColumn('pinned_at', 'bigint', (col) => col.notNull())
    .addPrimaryKeyConstraint('pins_pk', ['conversation_id', 'message_id'])
    .execute();
  await db.schema.createIndex('pins_message_idx').on('pins').column('message_id').execute();

  await db.schema
    .createTable('saved_items')
    .addColumn('user_id', 'text', (col) => col.notNull())
    .addColumn('message_id', 'text', (col) => col.notNull())
    .addColumn('conversation_id', 'text', (col) => col.notNull())
    .addColumn('saved_at', 'bigint', (col) => col.notNull())
    .addPrimaryKeyConstraint('saved_items_pk', ['user_id', 'message_id'])
    .execute();
  await db.schema.createIndex('saved_items_message_idx').on('saved_items').column('message_id').execute();

  await db.schema
    .createTable('message_versions')
    .addColumn('message_id', 'text', (col) => col.notNull())
    .addColumn('version', 'integer', (col) => col.notNull())
    .addColumn('text', 'text', (col) => col.notNull())
    .addColumn('written_at', 'bigint', (col) => col.notNull())
    .addColumn('replaced_at', 'bigint', (col) => col.notNull())
    .addPrimaryKeyConstraint('message_versions_pk', ['message_id', 'version'])
    .execute();

  await db.schema
    .createTable('team_settings')
    .addColumn('team_id', 'text', (col) => col.primaryKey())
    .addColumn('edit_window_seconds', 'bigint')
    .addColumn('delete_window_seconds', 'bigint')
    .addColumn('broadcast_member_limit', 'integer')
    .addColumn('updated_at', 'bigint', (col) => col.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['team_settings', 'message_versions', 'saved_items', 'pins', 'reactions', 'thread_reads', 'message_mentions']) {
    await db.schema.dropTable(table).execute();
  }
  await db.schema.dropIndex('messages_timeline_unread_idx').execute();
  await db.schema.alterTable('conversation_members').dropColumn('last_read_seq').execute();
  await db.schema.alterTable('messages').dropColumn('entities').execute();
}
