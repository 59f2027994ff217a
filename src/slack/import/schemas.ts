import { Type, type Static } from '@sinclair/typebox';
import { Id, IsoTime, Strict, toIso } from '../../http/schemas.js';
import type { SlackImportRow } from '../../storage/schema.js';
import type { ImportReport } from './report.js';

export const TeamParams = Strict({ teamId: Id });
export const ImportParams = Strict({ teamId: Id, importId: Id });

/** A Slack token: letters, digits and dashes, such as xoxb-... or xoxp-.... */
export const SlackToken = Type.String({
  minLength: 8,
  maxLength: 512,
  pattern: '^[A-Za-z0-9-]+$',
  description: 'Slack user or bot token with files:read, used to download file bytes the export lacks; never stored',
});

export const SlackTokenHeaders = Type.Object({ 'slack-token': Type.Optional(SlackToken) });

export const StartImportBody = Strict({
  path: Type.String({ minLength: 1, maxLength: 4096, description: 'Folder or .zip file of the export on the server (server admins only)' }),
  slack_token: Type.Optional(SlackToken),
});
export type StartImportBody = Static<typeof StartImportBody>;

const Counts = Type.Object({ imported: Type.Integer(), merged: Type.Integer(), existing: Type.Integer(), skipped: Type.Integer() });

export const ImportRunView = Type.Object({
  id: Id,
  team_id: Id,
  status: Type.Union([Type.Literal('running'), Type.Literal('done'), Type.Literal('failed'), Type.Literal('interrupted')]),
  source: Type.String(),
  error: Type.Union([Type.String(), Type.Null()]),
  created_at: IsoTime,
  updated_at: IsoTime,
  finished_at: Type.Union([IsoTime, Type.Null()]),
  report: Type.Object({
    counts: Type.Record(Type.String(), Counts),
    file_placeholders: Type.Integer(),
    files_downloaded: Type.Integer(),
    replies: Type.Integer(),
    problems: Type.Array(Type.Object({ kind: Type.String(), path: Type.String(), ts: Type.Optional(Type.String()), reason: Type.String() })),
    problem_count: Type.Integer(),
    created_accounts: Type.Array(
      Type.Object({ user_id: Id, username: Type.String(), email: Type.String(), slack_id: Type.String(), is_bot: Type.Boolean() }),
    ),
  }),
});
export type ImportRunView = Static<typeof ImportRunView>;

export function presentImportRun(row: SlackImportRow): ImportRunView {
  // Reports stored before files_downloaded existed lack it.
  const report = JSON.parse(row.report) as Omit<ImportReport, 'files_downloaded'> & { files_downloaded?: number };
  return {
    id: row.id,
    team_id: row.team_id,
    status: row.status,
    source: row.source,
    error: row.error,
    created_at: toIso(Number(row.created_at)),
    updated_at: toIso(Number(row.updated_at)),
    finished_at: toIso(row.finished_at === null ? null : Number(row.finished_at)),
    report: { ...report, files_downloaded: report.files_downloaded ?? 0 },
  };
}
