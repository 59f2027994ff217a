import type { AppContext } from '../platform/context.js';
import { AppError } from '../platform/errors.js';
import type { SessionRow } from '../storage/schema.js';
import { revokeSessions, type Auth } from './actions.js';

/** Lists the caller's live sessions, newest first. */
export async function listSessions(ctx: AppContext, auth: Auth): Promise<SessionRow[]> {
  return ctx.storage.db
    .selectFrom('sessions')
    .selectAll()
    .where('user_id', '=', auth.user.id)
    .where('expires_at', '>', ctx.now())
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .execute();
}

/**
 * Revokes one of the caller's sessions, which may be the current one. A
 * session of another user answers SESSION_NOT_FOUND, as a missing one does.
 */
export async function revokeOwnSession(ctx: AppContext, auth: Auth, sessionId: string): Promise<void> {
  const session = await ctx.storage.db
    .selectFrom('sessions')
    .select('id')
    .where('id', '=', sessionId)
    .where('user_id', '=', auth.user.id)
    .executeTakeFirst();
  if (session === undefined) throw new AppError('SESSION_NOT_FOUND', 'Session not found', { field: 'sessionId' });
  await revokeSessions(ctx, auth.user.id, [session.id], { reason: 'revoked_by_user', actorId: auth.user.id, address: auth.address });
}
