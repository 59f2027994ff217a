import { revokeSessions, type Auth } from '../accounts/actions.js';
import { findUserById } from '../accounts/queries.js';
import { recordAudit } from '../audit/log.js';
import { commitWithEvents, type AppContext } from '../platform/context.js';
import { AppError, invalidField } from '../platform/errors.js';
import { requireServerAdmin } from './access.js';

/**
 * Deactivates an account: it can no longer log in or be added to a team,
 * channel or direct message, and every session ends at once, which closes its
 * open sockets with 4001. Team memberships and messages stay, so history keeps
 * its authors. Server admins only, and not on their own account.
 */
export async function deactivateUser(ctx: AppContext, auth: Auth, userId: string): Promise<void> {
  await requireServerAdmin(ctx, auth.user);
  if (userId === auth.user.id) throw invalidField('userId', 'You cannot deactivate your own account; ask another server admin');

  const changed = await commitWithEvents(ctx, async (tx, _events, now) => {
    const user = await findUserById(tx, userId);
    if (user === undefined) throw new AppError('USER_NOT_FOUND', 'User not found', { field: 'userId' });
    if (user.deactivated_at != null) return false;
    await tx.updateTable('users').set({ deactivated_at: now, updated_at: now }).where('id', '=', userId).execute();
    await tx.deleteFrom('login_challenges').where('user_id', '=', userId).execute();
    await recordAudit(tx, now, { action: 'user.deactivated', actorId: auth.user.id, target: { type: 'user', id: userId }, address: auth.address });
    return true;
  });

  // The flag is committed first, so a login racing this revocation is refused by the flag.
  const sessions = await ctx.storage.db.selectFrom('sessions').select('id').where('user_id', '=', userId).execute();
  await revokeSessions(
    ctx,
    userId,
    sessions.map((row) => row.id),
    { reason: 'deactivated', actorId: auth.user.id, address: auth.address },
  );
  ctx.sessionCache.forget(userId);
  ctx.logger.info({ component: 'admin', userId, actorId: auth.user.id, sessions: sessions.length, changed }, 'user deactivated');
}

/** Lets a deactivated account log in again, with the team memberships it kept. Server admins only. */
export async function reactivateUser(ctx: AppContext, auth: Auth, userId: string): Promise<void> {
  await requireServerAdmin(ctx, auth.user);
  await commitWithEvents(ctx, async (tx, _events, now) => {
    const user = await findUserById(tx, userId);
    if (user === undefined) throw new AppError('USER_NOT_FOUND', 'User not found', { field: 'userId' });
    if (user.deactivated_at == null) return;
    await tx.updateTable('users').set({ deactivated_at: null, updated_at: now }).where('id', '=', userId).execute();
    await recordAudit(tx, now, { action: 'user.reactivated', actorId: auth.user.id, target: { type: 'user', id: userId }, address: auth.address });
  });
  ctx.logger.info({ component: 'admin', userId, actorId: auth.user.id }, 'user reactivated');
}
