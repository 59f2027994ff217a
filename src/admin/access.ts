import type { AppContext } from '../platform/context.js';
import { AppError } from '../platform/errors.js';
import type { Storage } from '../storage/database.js';
import type { UserRow } from '../storage/schema.js';

/** Id of the first registered user of each storage; it never changes because accounts are never deleted. */
const firstUserIds = new WeakMap<Storage, string>();

async function findFirstUserId(ctx: AppContext): Promise<string | undefined> {
  const cached = firstUserIds.get(ctx.storage);
  if (cached !== undefined) return cached;
  const row = await ctx.storage.db.selectFrom('users').select('id').orderBy('created_at').orderBy('id').limit(1).executeTakeFirst();
  if (row !== undefined) firstUserIds.set(ctx.storage, row.id);
  return row?.id;
}

/**
 * Returns true for a server admin: a user named in CHATTERBOX_ADMIN_USERS or,
 * when that setting is empty, the first user who registered. Being a team
 * owner gives no server-wide powers.
 */
export async function isServerAdmin(ctx: AppContext, user: UserRow): Promise<boolean> {
  if (ctx.config.adminUsers.length > 0) return ctx.config.adminUsers.includes(user.username_key);
  return (await findFirstUserId(ctx)) === user.id;
}

/** Throws FORBIDDEN unless the user is a server admin. */
export async function requireServerAdmin(ctx: AppContext, user: UserRow): Promise<void> {
  if (!(await isServerAdmin(ctx, user))) throw new AppError('FORBIDDEN', 'Only server admins can do this');
}
