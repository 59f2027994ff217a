import type { Kysely } from 'kysely';

/**
 * Shared files. A row is written only once its bytes are durably stored; until
 * a message claims it, message_id stays null and the upload belongs to its
 * uploader alone. The blob key names the object in the file store; the data
 * key is the file's own AES-256 key, wrapped by the master key.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('files')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('team_id', 'text', (col) => col.notNull())
    .addColumn('conversation_id', 'text', (col) => col.notNull())
    .addColumn('message_id', 'text')
    .addColumn('uploader_id', 'text', (col) => col.notNull())
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('mime_type', 'text', (col) => col.notNull())
    .addColumn('size', 'bigint', (col) => col.notNull())
    .addColumn('sha256', 'text', (col) => col.notNull())
    .addColumn('blob_key', 'text', (col) => col.notNull())
    .addColumn('wrapped_key', 'text')
    .addColumn('master_key_id', 'text')
    .addColumn('width', 'integer')
    .addColumn('height', 'integer')
    .addColumn('thumbnail_key', 'text')
    .addColumn('thumbnail_wrapped_key', 'text')
    .addColumn('thumbnail_master_key_id', 'text')
    .addColumn('thumbnail_size', 'bigint')
    .addColumn('created_at', 'bigint', (col) => col.notNull())
    .addColumn('deleted_at', 'bigint')
    .execute();
  await db.schema.createIndex('files_message_idx').on('files').columns(['message_id']).execute();
  await db.schema.createIndex('files_conversation_idx').on('files').columns(['conversation_id', 'created_at']).execute();
  await db.schema.createIndex('files_team_idx').on('files').columns(['team_id', 'created_at']).execute();

  // Resumable uploads in progress. The bytes are in the staging area under the
  // same id, which becomes the file's id once the upload is complete.
  await db.schema
    .createTable('uploads')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('team_id', 'text', (col) => col.notNull())
    .addColumn('conversation_id', 'text', (col) => col.notNull())
    .addColumn('uploader_id', 'text', (col) => col.notNull())
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('mime_type', 'text', (col) => col.notNull())
    .addColumn('size', 'bigint', (col) => col.notNull())
    .addColumn('created_at', 'bigint', (col) => col.notNull())
    .addColumn('expires_at', 'bigint', (col) => col.notNull())
    .execute();
  await db.schema.createIndex('uploads_expires_idx').on('uploads').columns(['expires_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('uploads').execute();
  await db.schema.dropTable('files').execute();
}
