import { recordAudit } from '../audit/log.js';
import { deleteMessageFiles, removeBlobs } from '../files/actions.js';
import type { FileBlobs } from '../files/queries.js';
import { forgetMessageExtras } from '../messages/cleanup.js';
import { summariseThread } from '../messages/queries.js';
import type { AppContext } from '../platform/context.js';
import { conversationStream } from '../realtime/events.js';
import type { Tx } from '../storage/database.js';

const DAY_MS = 24 * 3600 * 1000;
/** Messages removed per transaction, so one purge never holds the SQLite write lock for long. */
const PURGE_BATCH_SIZE = 500;

/** Counts of what one purge removed from one team. */
export interface TeamPurgeReport {
  teamId: string;
  cutoff: number;
  /** Messages whose rows were deleted. */
  messagesDeleted: number;
  /** Thread roots older than the cutoff whose text was erased because newer replies still need them. */
  messagesErased: number;
  /** Stored events of the team's conversation streams, which carry message text. */
  eventsDeleted: number;
  /** Files of purged messages, whose rows, search entries and stored bytes were deleted. */
  filesDeleted: number;
}

/**
 * Deletes the messages older than each team's retention period, with what
 * hangs off them: mentions, reactions, pins, saved items, earlier versions,
 * thread read positions, search entries and files (rows, search entries and
 * stored bytes). It also deletes the stored events of the team's
 * conversations from before the cutoff, and records what it removed in the
 * audit log. A thread root with a reply newer than the cutoff keeps its row
 * with the text erased, as a deletion does, so that the thread stays
 * readable. Clients get no events about it, and a socket that resumes from
 * before the oldest kept event gets a resync frame. The daily job in schedule.ts calls it.
 */
export async function purgeExpiredMessages(ctx: AppContext, now = ctx.now()): Promise<TeamPurgeReport[]> {
  const teams = await ctx.storage.db
    .selectFrom('team_settings')
    .select(['team_id', 'retention_days'])
    .where('retention_days', 'is not', null)
    .execute();

  const reports: TeamPurgeReport[] = [];
  for (const team of teams) {
    const started = Date.now();
    const report = await purgeTeam(ctx, team.team_id, now - Number(team.retention_days) * DAY_MS, now);
    reports.push(report);
    ctx.logger.info({ component: 'retention', ...report, durationMs: Date.now() - started }, 'expired messages purged');
  }
  return reports;
}

async function purgeTeam(ctx: AppContext, teamId: string, cutoff: number, now: number): Promise<TeamPurgeReport> {
  const report: TeamPurgeReport = { teamId, cutoff, messagesDeleted: 0, messagesErased: 0, eventsDeleted: 0, filesDeleted: 0 };
  const conversations = await ctx.storage.db.selectFrom('conversations').select('id').where('team_id', '=', teamId).execute();

  for (const { id } of conversations) {
    // Each batch skips the roots it erased before, so the loop ends when only kept rows remain.
    for (;;) {
      const batch = await ctx.storage.db.transaction().execute((tx) => purgeMessageBatch(tx, id, cutoff, now, report));
      // Stored bytes go after the commit, as for a deleted message. A failed removal is left to the file sweep.
      await removeBlobs(ctx, batch.blobs);
      if (batch.examined < PURGE_BATCH_SIZE) break;
    }
    report.eventsDeleted += await ctx.storage.db.transaction().execute((tx) => purgeStreamEvents(tx, id, cutoff));
    // The purge appends no event to the stream, so this node's cached latest page would not move on its own.
    ctx.pageCache.forget(id);
  }

  if (report.messagesDeleted + report.messagesErased + report.eventsDeleted > 0) {
    const { cutoff: _cutoff, teamId: _teamId, ...counts } = report;
    await recordAudit(ctx.storage.db, now, {
      action: 'retention.purged',
      actorId: null,
      target: { type: 'team', id: teamId },
      teamId,
      details: { cutoff: new Date(cutoff).toISOString(), ...counts },
    });
  }
  return report;
}

/** Removes up to one batch of expired messages of a conversation. Returns how many it examined and the blobs to remove. */
async function purgeMessageBatch(
  tx: Tx,
  conversationId: string,
  cutoff: number,
  now: number,
  report: TeamPurgeReport,
): Promise<{ examined: number; blobs: FileBlobs[] }> {
  const expired = await tx
    .selectFrom('messages')
    .select(['id', 'root_id', 'text', 'deleted_at'])
    .where('conversation_id', '=', conversationId)
    .where('created_at', '<', cutoff)
    // Roots already erased by an earlier purge wait for their last reply to expire.
    .where((eb) => eb.or([eb('deleted_at', 'is', null), eb('text', '!=', ''), eb('reply_count', '=', 0)]))
    .orderBy('created_at')
    .limit(PURGE_BATCH_SIZE)
    .execute();
  if (expired.length === 0) return { examined: 0, blobs: [] };

  const ids = expired.map((row) => row.id);
  const rootsWithLiveReplies = new Set(
    (
      await tx
        .selectFrom('messages')
        .select('root_id')
        .distinct()
        .where('root_id', 'in', ids)
        .where('created_at', '>=', cutoff)
        .execute()
    ).map((row) => row.root_id),
  );
  const touchedRoots = new Set<string>();
  const blobs: FileBlobs[] = [];

  for (const message of expired) {
    await forgetMessageExtras(tx, message.id);
    const files = await deleteMessageFiles(tx, message.id);
    blobs.push(...files);
    report.filesDeleted += files.length;
    if (rootsWithLiveReplies.has(message.id)) {
      await tx
        .updateTable('messages')
        .set({ text: '', entities: '{"mentions":[],"links":[]}', deleted_at: message.deleted_at ?? now })
        .where('id', '=', message.id)
        .execute();
      report.messagesErased += 1;
      continue;
    }
    await tx.deleteFrom('thread_reads').where('thread_root_id', '=', message.id).execute();
    await tx.deleteFrom('messages').where('id', '=', message.id).execute();
    report.messagesDeleted += 1;
    if (message.root_id !== null) touchedRoots.add(message.root_id);
  }

  // Surviving roots recount their replies, so reply counts match what remains. An erased
  // root whose count reaches 0 is deleted by the next purge.
  for (const rootId of touchedRoots) {
    const summary = await summariseThread(tx, rootId);
    await tx
      .updateTable('messages')
      .set({ reply_count: summary.replyCount, last_reply_at: summary.lastReplyAt, reply_users: JSON.stringify(summary.replyUsers) })
      .where('id', '=', rootId)
      .execute();
  }
  return { examined: expired.length, blobs };
}

/**
 * Deletes a conversation stream's events from before the cutoff and raises
 * the stream's min_seq past them, which makes resuming clients resync.
 */
async function purgeStreamEvents(tx: Tx, conversationId: string, cutoff: number): Promise<number> {
  const stream = conversationStream(conversationId);
  const newest = await tx
    .selectFrom('events')
    .select((eb) => eb.fn.max('seq').as('seq'))
    .where('stream_id', '=', stream)
    .where('created_at', '<', cutoff)
    .executeTakeFirst();
  if (newest?.seq == null) return 0;

  const lastExpiredSeq = Number(newest.seq);
  const deleted = await tx.deleteFrom('events').where('stream_id', '=', stream).where('seq', '<=', lastExpiredSeq).executeTakeFirst();
  await tx.updateTable('streams').set({ min_seq: lastExpiredSeq + 1 }).where('id', '=', stream).where('min_seq', '<=', lastExpiredSeq).execute();
  return Number(deleted.numDeletedRows);
}
