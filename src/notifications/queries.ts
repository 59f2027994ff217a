import type { Expression } from 'kysely';
import type { Db, Tx } from '../storage/database.js';
import type { ConversationNotificationRow, NotificationPreferencesRow, PushSubscriptionRow } from '../storage/schema.js';

/** Ids per query, below SQLite's limit of bound parameters. */
const CHUNK = 500;

export function findNotificationPreferences(db: Db | Tx, userId: string): Promise<NotificationPreferencesRow | undefined> {
  return db.selectFrom('notification_preferences').selectAll().where('user_id', '=', userId).executeTakeFirst();
}

export async function upsertNotificationPreferences(
  db: Db | Tx,
  userId: string,
  changes: Partial<Pick<NotificationPreferencesRow, 'level' | 'keywords'>>,
  defaults: Pick<NotificationPreferencesRow, 'level' | 'keywords'>,
  now: number,
): Promise<void> {
  await db
    .insertInto('notification_preferences')
    .values({ user_id: userId, ...defaults, ...changes, updated_at: now })
    .onConflict((conflict) => conflict.column('user_id').doUpdateSet({ ...changes, updated_at: now }))
    .execute();
}

export function findConversationNotification(db: Db | Tx, userId: string, conversationId: string): Promise<ConversationNotificationRow | undefined> {
  return db
    .selectFrom('conversation_notifications')
    .selectAll()
    .where('user_id', '=', userId)
    .where('conversation_id', '=', conversationId)
    .executeTakeFirst();
}

export async function upsertConversationNotification(
  db: Db | Tx,
  userId: string,
  conversationId: string,
  changes: Partial<Pick<ConversationNotificationRow, 'level' | 'muted'>>,
  now: number,
): Promise<void> {
  await db
    .insertInto('conversation_notifications')
    .values({ user_id: userId, conversation_id: conversationId, level: null, muted: 0, ...changes, updated_at: now })
    .onConflict((conflict) => conflict.columns(['user_id', 'conversation_id']).doUpdateSet({ ...changes, updated_at: now }))
    .execute();
}

export async function listMutedConversationIds(db: Db, userId: string): Promise<Set<string>> {
  const rows = await db.selectFrom('conversation_notifications').select('conversation_id').where('user_id', '=', userId).where('muted', '=', 1).execute();
  return new Set(rows.map((row) => row.conversation_id));
}

/** A member of a conversation with the settings that decide their notifications; null fields have no row. */
export interface MemberSettingsRow {
  user_id: string;
  user_level: string | null;
  keywords: string | null;
  conversation_level: string | null;
  muted: number | null;
}

/**
 * Lists the members of a conversation, the author excluded, with their
 * notification settings. With `only`, it lists just the members who may be
 * notified of a plain message: those named in `only.userIds`, those whose
 * level for this conversation is 'all', and those with keywords. A channel of
 * thousands then costs a read of the few who need one.
 */
export async function listMemberSettings(
  db: Db,
  conversationId: string,
  authorId: string,
  only?: { userIds: readonly string[] },
): Promise<MemberSettingsRow[]> {
  const ids = only?.userIds ?? [];
  const rows: MemberSettingsRow[] = [];
  // Without a filter one query reads every member; with one, the named ids go in chunks.
  const chunks = only === undefined || ids.length === 0 ? [[] as string[]] : chunk(ids);
  const seen = new Set<string>();
  for (const idChunk of chunks) {
    const found = await db
      .selectFrom('conversation_members as cm')
      .leftJoin('notification_preferences as np', 'np.user_id', 'cm.user_id')
      .leftJoin('conversation_notifications as cn', (join) => join.onRef('cn.user_id', '=', 'cm.user_id').on('cn.conversation_id', '=', conversationId))
      .select(['cm.user_id', 'np.level as user_level', 'np.keywords', 'cn.level as conversation_level', 'cn.muted'])
      .where('cm.conversation_id', '=', conversationId)
      .where('cm.user_id', '<>', authorId)
      .$if(only !== undefined, (query) =>
        query.where((eb) =>
          eb.or([
            ...(idChunk.length > 0 ? [eb('cm.user_id', 'in', idChunk)] : []),
            eb('cn.level', '=', 'all'),
            eb.and([eb('cn.level', 'is', null), eb('np.level', '=', 'all')]),
            eb.and([eb('np.keywords', 'is not', null), eb('np.keywords', '<>', '[]')]),
          ]),
        ),
      )
      .execute();
    for (const row of found) {
      if (seen.has(row.user_id)) continue;
      seen.add(row.user_id);
      rows.push(row);
    }
  }
  return rows;
}

/**
 * Selects a member of a conversation other than the author who may be notified of every message
 * there: their level there (or their own level, when the conversation has none) is 'all', or they
 * watch keywords. These are the members that listMemberSettings adds to the named ones. A post
 * runs it inside its access check (accessConversationToPost), with the conversation id a
 * reference to the checked row.
 */
export function memberNotifiedOfAllQuery(db: Db | Tx, conversationId: string | Expression<string>, authorId: string | Expression<string>) {
  return db
    .selectFrom('conversation_members as cm')
    .leftJoin('notification_preferences as np', 'np.user_id', 'cm.user_id')
    .leftJoin('conversation_notifications as cn', (join) => join.onRef('cn.user_id', '=', 'cm.user_id').on('cn.conversation_id', '=', conversationId))
    .select('cm.user_id')
    .where('cm.conversation_id', '=', conversationId)
    .where('cm.user_id', '<>', authorId)
    .where((eb) =>
      eb.or([
        eb('cn.level', '=', 'all'),
        eb.and([eb('cn.level', 'is', null), eb('np.level', '=', 'all')]),
        eb.and([eb('np.keywords', 'is not', null), eb('np.keywords', '<>', '[]')]),
      ]),
    )
    .limit(1);
}

/** Lists who follows a thread. */
export async function listThreadFollowers(db: Db, rootId: string): Promise<string[]> {
  const rows = await db.selectFrom('thread_reads').select('user_id').where('thread_root_id', '=', rootId).where('following', '=', 1).execute();
  return rows.map((row) => row.user_id);
}

/** Records that users were notified of a mention in a message; returns those not recorded before. */
export async function insertNotifiedMentions(tx: Db | Tx, messageId: string, userIds: readonly string[]): Promise<Set<string>> {
  const inserted = new Set<string>();
  for (const idChunk of chunk(userIds)) {
    const rows = await tx
      .insertInto('notified_mentions')
      .values(idChunk.map((userId) => ({ message_id: messageId, user_id: userId })))
      .onConflict((conflict) => conflict.columns(['message_id', 'user_id']).doNothing())
      .returning('user_id')
      .execute();
    for (const row of rows) inserted.add(row.user_id);
  }
  return inserted;
}

/** Returns which of the given users were already recorded as notified of a mention in the message. */
export async function findNotifiedMentions(db: Db | Tx, messageId: string, userIds: readonly string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (const idChunk of chunk(userIds)) {
    const rows = await db.selectFrom('notified_mentions').select('user_id').where('message_id', '=', messageId).where('user_id', 'in', idChunk).execute();
    for (const row of rows) found.add(row.user_id);
  }
  return found;
}

export async function listPushSubscriptionsOf(db: Db | Tx, userIds: readonly string[]): Promise<PushSubscriptionRow[]> {
  const rows: PushSubscriptionRow[] = [];
  for (const idChunk of chunk(userIds)) {
    rows.push(...(await db.selectFrom('push_subscriptions').selectAll().where('user_id', 'in', idChunk).execute()));
  }
  return rows;
}

export function listPushSubscriptions(db: Db, userId: string): Promise<PushSubscriptionRow[]> {
  return db.selectFrom('push_subscriptions').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute();
}

export function findPushSubscription(db: Db, id: string): Promise<PushSubscriptionRow | undefined> {
  return db.selectFrom('push_subscriptions').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findPushSubscriptionByEndpoint(db: Db | Tx, kind: string, endpoint: string): Promise<PushSubscriptionRow | undefined> {
  return db.selectFrom('push_subscriptions').selectAll().where('kind', '=', kind).where('endpoint', '=', endpoint).executeTakeFirst();
}

export async function countPushSubscriptions(db: Db | Tx, userId: string): Promise<number> {
  const row = await db
    .selectFrom('push_subscriptions')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

export async function insertPushSubscription(db: Db | Tx, row: PushSubscriptionRow): Promise<void> {
  await db.insertInto('push_subscriptions').values(row).execute();
}

/** Gives an existing device registration to the registering user and session, with its new keys. */
export async function replacePushSubscription(db: Db | Tx, id: string, changes: Omit<PushSubscriptionRow, 'id' | 'kind' | 'endpoint' | 'created_at' | 'last_success_at'>): Promise<void> {
  await db.updateTable('push_subscriptions').set(changes).where('id', '=', id).execute();
}

/** Deletes a subscription; with `userId`, only one of that user. Returns whether a row was deleted. */
export async function deletePushSubscription(db: Db | Tx, id: string, userId?: string): Promise<boolean> {
  const result = await db
    .deleteFrom('push_subscriptions')
    .where('id', '=', id)
    .$if(userId !== undefined, (query) => query.where('user_id', '=', userId as string))
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export async function markPushSuccess(db: Db, id: string, now: number): Promise<void> {
  await db.updateTable('push_subscriptions').set({ last_success_at: now }).where('id', '=', id).execute();
}

function chunk<T>(items: readonly T[]): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += CHUNK) chunks.push(items.slice(start, start + CHUNK));
  return chunks;
}
