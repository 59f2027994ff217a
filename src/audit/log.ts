import type { Db, Tx } from '../storage/database.js';
import { newId } from '../platform/ids.js';

/** Every action the audit log records; docs/security.md describes each. */
export type AuditAction =
  | 'account.registered'
  | 'login.succeeded'
  | 'login.failed'
  | 'session.revoked'
  | 'password.changed'
  | 'two_factor.enabled'
  | 'two_factor.disabled'
  | 'two_factor.recovery_codes_regenerated'
  | 'two_factor.recovery_code_used'
  | 'team.member_added'
  | 'team.member_removed'
  | 'team.member_left'
  | 'team.role_changed'
  | 'team.retention_changed'
  | 'channel.created'
  | 'channel.archived'
  | 'channel.unarchived'
  | 'channel.member_removed'
  | 'user.deactivated'
  | 'user.reactivated'
  | 'database.key_rotated'
  | 'retention.purged'
  | 'bot.token_created'
  | 'bot.tokens_revoked'
  | 'webhook.created'
  | 'webhook.deleted';

export interface AuditEntry {
  action: AuditAction;
  /** User who acted; null for the server itself or a login to an unknown account. */
  actorId: string | null;
  target?: { type: 'user' | 'session' | 'team' | 'conversation' | 'database'; id: string };
  /** Team the entry belongs to: its owners can read it. */
  teamId?: string | null;
  /** Client address of the request, as the trusted-proxy setting resolves it. */
  address?: string | null;
  details?: Record<string, unknown>;
}

/**
 * Appends one entry to the audit log. Pass the transaction of the change it
 * records, so that the entry commits or rolls back with it. Nothing in the
 * application updates or deletes audit rows.
 */
export async function recordAudit(db: Db | Tx, at: number, entry: AuditEntry): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      id: newId(),
      at,
      action: entry.action,
      actor_id: entry.actorId,
      target_type: entry.target?.type ?? null,
      target_id: entry.target?.id ?? null,
      team_id: entry.teamId ?? null,
      address: entry.address ?? null,
      details: JSON.stringify(entry.details ?? {}),
    })
    .execute();
}
