/**
 * The report of one import run: counts per kind of object, and the problems
 * it skipped. `users` are the entries of users.json, and `bots` are accounts
 * created for bot messages whose bot users.json does not list.
 */

export const REPORT_KINDS = ['users', 'bots', 'channels', 'direct_messages', 'messages', 'reactions', 'pins', 'files'] as const;
export type ReportKind = (typeof REPORT_KINDS)[number];

/**
 * Counts of one kind. `imported` objects were created by this run. `merged`
 * ones matched an object that existed before any import, such as an account
 * with the same e-mail or a channel with the same name. `existing` ones were
 * created by an earlier import into the same team, and `skipped` ones could
 * not be imported (see the problems).
 */
export interface KindCounts {
  imported: number;
  merged: number;
  existing: number;
  skipped: number;
}

/** One thing that was skipped, with the export file it came from. */
export interface ImportProblem {
  kind: ReportKind;
  path: string;
  /** Slack ts of the message concerned, when there is one. */
  ts?: string;
  reason: string;
}

/** An account the run created, which its owner activates by resetting the password. */
export interface CreatedAccount {
  user_id: string;
  username: string;
  email: string;
  slack_id: string;
  is_bot: boolean;
}

export interface ImportReport {
  counts: Record<ReportKind, KindCounts>;
  /** Files of which only a placeholder line was kept, because the export lacks their bytes. */
  file_placeholders: number;
  /** Files among `counts.files.imported` whose bytes were downloaded from Slack with the supplied token. */
  files_downloaded: number;
  /** Thread replies among `counts.messages.imported`. */
  replies: number;
  /** The first MAX_LISTED_PROBLEMS problems; `problem_count` counts them all. */
  problems: ImportProblem[];
  problem_count: number;
  created_accounts: CreatedAccount[];
}

/** Problems kept in a report; a broken export of millions of messages must not grow it without bound. */
export const MAX_LISTED_PROBLEMS = 1000;

export function emptyReport(): ImportReport {
  const counts = Object.fromEntries(REPORT_KINDS.map((kind) => [kind, { imported: 0, merged: 0, existing: 0, skipped: 0 }]));
  return { counts: counts as Record<ReportKind, KindCounts>, file_placeholders: 0, files_downloaded: 0, replies: 0, problems: [], problem_count: 0, created_accounts: [] };
}

/**
 * Records a problem with its file. By default the object was skipped and
 * counts as such. With `skipped: false` the problem was worked around, such
 * as a member left out of a channel that was imported.
 */
export function reportProblem(report: ImportReport, problem: ImportProblem, options: { skipped: boolean } = { skipped: true }): void {
  if (options.skipped) report.counts[problem.kind].skipped += 1;
  report.problem_count += 1;
  if (report.problems.length < MAX_LISTED_PROBLEMS) report.problems.push(problem);
}
