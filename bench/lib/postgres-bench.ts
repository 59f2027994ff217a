/**
 * PostgreSQL parts of the cluster scenario: the benchmark's own schema, the
 * server processes that serve its connections, and the pgbench baseline of
 * single-row inserts into a table shaped like `messages`.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { buildPayload, MESSAGE_BYTES } from './payload.js';
import { canPin, CLIENT_CORE } from './proc.js';

/** Runs one statement with a connection of its own. */
export async function runSql<T extends pg.QueryResultRow = pg.QueryResultRow>(databaseUrl: string, statement: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<T>(statement, values)).rows;
  } finally {
    await client.end();
  }
}

/** Adds `application_name` to a postgres:// URL, so the server processes of its connections can be found. */
export function withApplicationName(databaseUrl: string, applicationName: string): string {
  const url = new URL(databaseUrl);
  url.searchParams.set('application_name', applicationName);
  return url.toString();
}

/** Process ids of the PostgreSQL backends that serve connections with this application name. */
export async function findBackendPids(databaseUrl: string, applicationName: string): Promise<number[]> {
  const rows = await runSql<{ pid: number }>(databaseUrl, 'SELECT pid FROM pg_stat_activity WHERE application_name = $1', [applicationName]);
  return rows.map((row) => row.pid);
}

/** True when pgbench (Debian's postgresql-client) is on the PATH. */
export function hasPgbench(): boolean {
  return spawnSync('pgbench', ['--version']).status === 0;
}

export interface PgbenchResult {
  transactionsPerSecond: number;
  latencyAverageMs: number;
}

/**
 * Creates `pgbench_messages` in `schema`, with the columns, defaults and
 * indexes of ChatterBox's `messages` but no foreign keys, and a sequence for
 * its `seq` column. Call after ChatterBox's migrations made `messages`.
 */
export async function createPgbenchTable(databaseUrl: string, schema: string): Promise<void> {
  await runSql(databaseUrl, `CREATE TABLE ${schema}.pgbench_messages (LIKE ${schema}.messages INCLUDING DEFAULTS INCLUDING INDEXES)`);
  await runSql(databaseUrl, `CREATE SEQUENCE ${schema}.pgbench_messages_seq`);
}

/**
 * Runs pgbench with a custom script of one single-row INSERT per transaction
 * (a 1 KB text, as the posts carry) for `seconds`, with `clients` connections
 * and one thread, pinned to the load generator's core when possible.
 */
export async function runPgbench(databaseUrl: string, schema: string, clients: number, seconds: number, scriptDir: string): Promise<PgbenchResult> {
  const script = path.join(scriptDir, 'insert-message.sql');
  const text = buildPayload(0, 0, MESSAGE_BYTES);
  fs.writeFileSync(
    script,
    `INSERT INTO pgbench_messages (id, conversation_id, seq, author_id, text, created_at)\n` +
      `  VALUES (gen_random_uuid()::text, 'pgbench-conversation', nextval('pgbench_messages_seq'), 'pgbench-author', '${text}', 1764900000000);\n`,
  );
  const url = new URL(databaseUrl);
  const args = ['-n', '-M', 'prepared', '-c', String(clients), '-j', '1', '-T', String(seconds), '-f', script];
  args.push('-h', url.hostname, '-p', url.port || '5432', '-U', decodeURIComponent(url.username), url.pathname.slice(1));
  const command = canPin() ? 'taskset' : 'pgbench';
  const commandArgs = canPin() ? ['-c', String(CLIENT_CORE), 'pgbench', ...args] : args;
  const env = { ...process.env, PGOPTIONS: `-c search_path=${schema}`, ...(url.password === '' ? {} : { PGPASSWORD: decodeURIComponent(url.password) }) };

  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(command, commandArgs, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`pgbench exited with code ${code}: ${stderr.trim().slice(0, 2000)}`))));
  });
  const tps = /^tps = ([0-9.]+)/m.exec(output);
  const latency = /^latency average = ([0-9.]+) ms/m.exec(output);
  if (tps === null) throw new Error(`pgbench printed no tps line: ${output.slice(0, 2000)}`);
  return { transactionsPerSecond: Number(tps[1]), latencyAverageMs: latency === null ? Number.NaN : Number(latency[1]) };
}

/**
 * Runs the same single-row INSERT from `clients` pg connections in this
 * process, each one at a time, for `seconds`: the baseline where pgbench is
 * missing. Its client overhead is node-postgres's rather than pgbench's.
 */
export async function runPgInsertLoop(databaseUrl: string, schema: string, clients: number, seconds: number): Promise<PgbenchResult> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: clients, options: `-c search_path=${schema}` });
  const text = buildPayload(0, 0, MESSAGE_BYTES);
  const statement = {
    name: 'insert-message',
    text: `INSERT INTO pgbench_messages (id, conversation_id, seq, author_id, text, created_at)
      VALUES (gen_random_uuid()::text, 'pgbench-conversation', nextval('pgbench_messages_seq'), 'pgbench-author', $1, 1764900000000)`,
    values: [text],
  };
  let inserted = 0;
  let busyMs = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  try {
    await Promise.all(
      Array.from({ length: clients }, async () => {
        const client = await pool.connect();
        try {
          while (performance.now() < deadline) {
            const before = performance.now();
            await client.query(statement);
            busyMs += performance.now() - before;
            inserted += 1;
          }
        } finally {
          client.release();
        }
      }),
    );
  } finally {
    await pool.end();
  }
  return { transactionsPerSecond: (inserted * 1000) / (performance.now() - started), latencyAverageMs: busyMs / Math.max(1, inserted) };
}
