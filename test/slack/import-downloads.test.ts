import { execFile } from 'node:child_process';
import fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConfig, loadConfig } from '../../src/platform/config.js';
import { DownloadFailed, SlackFileDownloader } from '../../src/slack/import/file-download.js';
import { buildTeam, buildUser, type TestUser } from '../helpers/factories.js';
import { schemaFor, startServer, TEST_DATABASE_URL, type TestServer } from '../helpers/server.js';
import { importPath, waitForRun, type RunView } from './import-helpers.js';

/**
 * Downloads of file bytes with a Slack token supplied at import time. A local
 * https server with a certificate made here plays Slack's file host. A second
 * one on 127.0.0.2, which no setting lists, counts every connection it gets,
 * so a token sent anywhere but the listed host fails the tests.
 */

const TOKEN = 'xoxb-1111-2222-downloadtest';
const MAX_FILE_BYTES = 4096;
const TIMEOUT_MS = 500;

interface SeenRequest {
  path: string;
  authorization: string | undefined;
}

let scratch: string;
let certFile: string;
let slackHost: https.Server;
let slackOrigin: string;
let otherHost: https.Server;
let otherOrigin: string;
let otherConnections = 0;
const seen: SeenRequest[] = [];
let server: TestServer;
let admin: TestUser;

/** Plays Slack's file host: the first segment of each path picks a behaviour. */
function answer(request: IncomingMessage, response: ServerResponse): void {
  seen.push({ path: request.url ?? '', authorization: request.headers.authorization });
  const [, kind = '', name = ''] = (request.url ?? '').split('/');
  if (request.headers.authorization !== `Bearer ${TOKEN}`) {
    response.writeHead(403).end();
    return;
  }
  switch (kind) {
    case 'ok':
      response.writeHead(200, { 'content-type': 'application/octet-stream' }).end(`bytes of ${name}\n`);
      return;
    case 'redirect':
      response.writeHead(302, { location: `${otherOrigin}/ok/${name}` }).end();
      return;
    case 'big':
      response.writeHead(200, { 'content-length': String(MAX_FILE_BYTES + 1) }).end(Buffer.alloc(MAX_FILE_BYTES + 1));
      return;
    case 'big-chunked':
      // No Content-Length, so only the stored byte count can catch it.
      response.writeHead(200);
      response.write(Buffer.alloc(MAX_FILE_BYTES));
      response.end(Buffer.alloc(10));
      return;
    case 'stall':
      response.writeHead(200, { 'content-length': '100' });
      response.write('only the start');
      return;
    case 'silent':
      // Sends no response, so the request itself times out.
      return;
    case 'sign-in':
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<html>Sign in to Slack</html>');
      return;
    case 'forbidden':
      response.writeHead(403).end();
      return;
    default:
      response.writeHead(404).end();
  }
}

async function listen(host: https.Server, address: string): Promise<string> {
  await new Promise<void>((resolve) => host.listen(0, address, resolve));
  return `https://${address}:${(host.address() as AddressInfo).port}`;
}

async function closeHost(host: https.Server): Promise<void> {
  host.closeAllConnections();
  await new Promise((resolve) => host.close(resolve));
}

interface ExportFile {
  id: string;
  name: string;
  mimetype?: string;
  url?: string;
}

/** Writes an export with one channel and one message per file, in the files' order. */
function writeExport(name: string, files: ExportFile[]): string {
  const folder = path.join(scratch, name);
  fs.mkdirSync(path.join(folder, 'downloads'), { recursive: true });
  fs.writeFileSync(path.join(folder, 'users.json'), JSON.stringify([{ id: 'UANN', name: 'ann', real_name: 'Ann', profile: { email: `ann-${name}@example.test`, real_name: 'Ann' } }]));
  fs.writeFileSync(path.join(folder, 'channels.json'), JSON.stringify([{ id: 'CDL', name: 'downloads', created: '1577836800', creator: 'UANN', members: ['UANN'] }]));
  const messages = files.map((file, index) => ({
    type: 'message',
    user: 'UANN',
    ts: `${1577836800 + index}.000100`,
    text: `file ${file.id}`,
    files: [{ id: file.id, name: file.name, title: file.name, mimetype: file.mimetype ?? 'application/octet-stream', size: 20, url_private_download: file.url }],
  }));
  fs.writeFileSync(path.join(folder, 'downloads', '2020-01-01.json'), JSON.stringify(messages));
  return folder;
}

async function importWithToken(teamId: string, folder: string, token: string | undefined): Promise<RunView & { report: { files_downloaded: number } }> {
  const started = await admin.api.post<RunView>(`/api/teams/${teamId}/slack-imports`, { path: folder, ...(token !== undefined && { slack_token: token }) });
  return (await waitForRun(admin, teamId, started.id)) as RunView & { report: { files_downloaded: number } };
}

function reasons(run: RunView): string[] {
  return run.report.problems.map((problem) => problem.reason);
}

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-slack-downloads-'));
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 7, ip: '127.0.0.2' }, { type: 2, value: 'localhost' }] },
    ],
  });
  certFile = path.join(scratch, 'ca.pem');
  fs.writeFileSync(certFile, pems.cert);
  slackHost = https.createServer({ cert: pems.cert, key: pems.private }, answer);
  slackOrigin = await listen(slackHost, '127.0.0.1');
  otherHost = https.createServer({ cert: pems.cert, key: pems.private }, (_request, response) => response.writeHead(200).end('other'));
  otherHost.on('connection', () => {
    otherConnections += 1;
  });
  otherOrigin = await listen(otherHost, '127.0.0.2');

  server = await startServer({
    files: { maxFileBytes: MAX_FILE_BYTES },
    slackFiles: { hosts: [new URL(slackOrigin).host], allowedAddresses: ['127.0.0.1/32', '127.0.0.2/32'], caFile: certFile, timeoutMs: TIMEOUT_MS },
  });
  admin = await buildUser(server.url, 'admin');
});

afterAll(async () => {
  await server.close();
  await closeHost(slackHost);
  await closeHost(otherHost);
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe('file downloads with a token', () => {
  const files = (): ExportFile[] => [
    { id: 'FOK1', name: 'notes.txt', url: `${slackOrigin}/ok/notes.txt` },
    { id: 'FOK2', name: 'photo.png', mimetype: 'image/png', url: `${slackOrigin}/ok/photo.png` },
    { id: 'FREDIRECT', name: 'moved.txt', url: `${slackOrigin}/redirect/moved.txt` },
    { id: 'FMISSING', name: 'gone.txt', url: `${slackOrigin}/missing/gone.txt` },
    { id: 'FBIG', name: 'big.bin', url: `${slackOrigin}/big/big.bin` },
    { id: 'FCHUNKED', name: 'chunked.bin', url: `${slackOrigin}/big-chunked/chunked.bin` },
    { id: 'FSTALL', name: 'stalled.bin', url: `${slackOrigin}/stall/stalled.bin` },
    { id: 'FSILENT', name: 'silent.bin', url: `${slackOrigin}/silent/silent.bin` },
    { id: 'FOTHER', name: 'elsewhere.txt', url: `${otherOrigin}/ok/elsewhere.txt` },
    { id: 'FHTTP', name: 'plain.txt', url: `http://${new URL(slackOrigin).host}/ok/plain.txt` },
    { id: 'FCREDENTIALS', name: 'creds.txt', url: `https://user:secret@${new URL(slackOrigin).host}/ok/creds.txt` },
    { id: 'FNOURL', name: 'nourl.txt' },
  ];
  let teamId: string;
  let run: RunView & { report: { files_downloaded: number } };
  let requestsBefore: number;

  beforeAll(async () => {
    teamId = (await buildTeam(admin, [], 'downloads')).id;
    requestsBefore = seen.length;
    run = await importWithToken(teamId, writeExport('mixed', files()), TOKEN);
  });

  it('stores the bytes Slack returns', async () => {
    expect(run.status).toBe('done');
    expect(run.report.files_downloaded).toBe(2);
    expect(run.report.counts.files!.imported).toBe(2);
    expect(run.report.file_placeholders).toBe(files().length - 2);
    const stored = await server.server.ctx.storage.db.selectFrom('files').select(['id', 'name']).where('team_id', '=', teamId).orderBy('name').execute();
    expect(stored.map((file) => file.name)).toEqual(['notes.txt', 'photo.png']);
    const content = await admin.api.raw('GET', `/api/files/${stored[0]!.id}/content`);
    expect(content.body).toBe('bytes of notes.txt\n');
  });

  it('sends the token only to the listed host', () => {
    const requests = seen.slice(requestsBefore);
    expect(requests.map((request) => request.path).sort()).toEqual(
      ['/big-chunked/chunked.bin', '/big/big.bin', '/missing/gone.txt', '/ok/notes.txt', '/ok/photo.png', '/redirect/moved.txt', '/silent/silent.bin', '/stall/stalled.bin'].sort(),
    );
    expect(requests.every((request) => request.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(otherConnections).toBe(0);
  });

  it('reports each failed download', () => {
    const listed = reasons(run);
    const reasonOf = (id: string) => listed.find((reason) => reason.startsWith(`file ${id} `));
    expect(reasonOf('FREDIRECT')).toContain('redirect (HTTP 302)');
    expect(reasonOf('FMISSING')).toContain('HTTP 404');
    expect(reasonOf('FBIG')).toContain(`${MAX_FILE_BYTES + 1} bytes, more than the ${MAX_FILE_BYTES}`);
    expect(reasonOf('FCHUNKED')).toMatch(/not downloaded/);
    expect(reasonOf('FSTALL')).toContain(`timed out after ${TIMEOUT_MS} ms`);
    expect(reasonOf('FSILENT')).toContain(`timed out after ${TIMEOUT_MS} ms`);
    expect(reasonOf('FOTHER')).toContain('is not in CHATTERBOX_SLACK_FILE_HOSTS');
    expect(reasonOf('FHTTP')).toContain('not https');
    expect(reasonOf('FCREDENTIALS')).toContain('contains credentials');
    expect(reasonOf('FNOURL')).toBeUndefined();
    expect(run.report.problem_count).toBe(9);
  });

  it('keeps placeholders for the rest', async () => {
    const texts = await server.server.ctx.storage.db
      .selectFrom('messages')
      .innerJoin('conversations', 'conversations.id', 'messages.conversation_id')
      .select('messages.text')
      .where('conversations.team_id', '=', teamId)
      .orderBy('messages.seq')
      .execute();
    expect(texts).toHaveLength(files().length);
    expect(texts[0]!.text).toBe('file FOK1');
    expect(texts[2]!.text).toContain('moved.txt, 20 bytes (not included in the export)');
  });

  it('never stores the token', async () => {
    const row = await server.server.ctx.storage.db.selectFrom('slack_imports').selectAll().where('id', '=', run.id).executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(TOKEN);
    expect(JSON.stringify(run)).not.toContain(TOKEN);
  });

  it('fetches nothing without a token', async () => {
    const otherTeam = (await buildTeam(admin, [], 'no token')).id;
    const before = seen.length;
    const plain = await importWithToken(otherTeam, writeExport('no-token', files()), undefined);
    expect(plain.status).toBe('done');
    expect(plain.report.files_downloaded).toBe(0);
    expect(plain.report.file_placeholders).toBe(files().length);
    expect(plain.report.problem_count).toBe(0);
    expect(seen.length).toBe(before);
  });
});

describe('rejected token', () => {
  it.each([
    ['sign-in', 'did not accept the token'],
    ['forbidden', 'rejected the token (HTTP 403)'],
  ])('stops after %s', async (kind, reason) => {
    const teamId = (await buildTeam(admin, [], `rejected ${kind}`)).id;
    const before = seen.length;
    const folder = writeExport(`rejected-${kind}`, [
      { id: 'FFIRST', name: 'first.txt', mimetype: 'text/plain', url: `${slackOrigin}/${kind}/first.txt` },
      { id: 'FSECOND', name: 'second.txt', url: `${slackOrigin}/ok/second.txt` },
    ]);
    const run = await importWithToken(teamId, folder, TOKEN);

    expect(run.status).toBe('done');
    expect(run.report.files_downloaded).toBe(0);
    expect(run.report.file_placeholders).toBe(2);
    expect(reasons(run)).toHaveLength(1);
    expect(reasons(run)[0]).toContain(reason);
    expect(seen.slice(before).map((request) => request.path)).toEqual([`/${kind}/first.txt`]);
  });
});

describe('token input', () => {
  it('zip upload reads the Slack-Token header', async () => {
    const owner = await buildUser(server.url, 'zipowner');
    const teamId = (await buildTeam(owner, [], 'zip downloads')).id;
    const folder = writeExport('zipped', [{ id: 'FZIP', name: 'zipped.txt', url: `${slackOrigin}/ok/zipped.txt` }]);
    const zipFile = path.join(scratch, 'zipped.zip');
    const { execFileSync } = await import('node:child_process');
    execFileSync('zip', ['-qr', zipFile, '.'], { cwd: folder });

    const response = await fetch(`${server.url}/api/teams/${teamId}/slack-imports/zip`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/zip', 'slack-token': TOKEN },
      body: fs.readFileSync(zipFile),
    });
    expect(response.status).toBe(202);
    const run = await waitForRun(owner, teamId, ((await response.json()) as RunView).id);
    expect((run.report as unknown as { files_downloaded: number }).files_downloaded).toBe(1);
  });

  it('member with a token is denied', async () => {
    const owner = await buildUser(server.url, 'deniedowner');
    const member = await buildUser(server.url, 'deniedmember');
    const teamId = (await buildTeam(owner, [member], 'denied downloads')).id;
    const before = seen.length;
    const response = await fetch(`${server.url}/api/teams/${teamId}/slack-imports/zip`, {
      method: 'POST',
      headers: { authorization: `Bearer ${member.token}`, 'content-type': 'application/zip', 'slack-token': TOKEN },
      body: Buffer.from('not read'),
    });
    expect(response.status).toBe(403);
    expect(seen.length).toBe(before);
  });

  it.each([
    ['too short', 'xoxb'],
    ['with a space', 'xoxb-1111 2222'],
    ['not a string', 12345678],
  ])('rejects a token %s', async (_case, token) => {
    const teamId = (await buildTeam(admin, [], 'bad token')).id;
    const response = await admin.api.raw('POST', `/api/teams/${teamId}/slack-imports`, { path: scratch, slack_token: token });
    expect(response.status).toBe(400);
    expect((response.body as { error: { field: string } }).error.field).toBe('slack_token');
  });

  it('rejects a bad Slack-Token header', async () => {
    const owner = await buildUser(server.url, 'headerowner');
    const teamId = (await buildTeam(owner, [], 'bad header')).id;
    const response = await fetch(`${server.url}/api/teams/${teamId}/slack-imports/zip`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/zip', 'slack-token': 'no spaces allowed' },
      body: Buffer.from('not read'),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { field: string } }).error.field).toBe('slack-token');
  });
});

describe('command line', () => {
  const ROOT = path.resolve(import.meta.dirname, '../..');

  /** Runs `chatterbox import-slack` through tsx on the test server's storage, with the given extra environment. */
  function runCli(folder: string, extra: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      CHATTERBOX_DATA_DIR: server.dataDir,
      LOG_LEVEL: 'warn',
      CHATTERBOX_SLACK_FILE_HOSTS: new URL(slackOrigin).host,
      CHATTERBOX_SLACK_FILE_ALLOWED_ADDRESSES: '127.0.0.1',
      CHATTERBOX_SLACK_FILE_CA_FILE: certFile,
      ...extra,
    };
    // Two connections are enough for one import, and the suite's servers share one PostgreSQL.
    if (TEST_DATABASE_URL !== undefined) Object.assign(env, { DATABASE_URL: TEST_DATABASE_URL, CHATTERBOX_DATABASE_SCHEMA: schemaFor(server.dataDir), CHATTERBOX_DATABASE_POOL_SIZE: '2' });
    const args = ['--import', 'tsx', path.join(ROOT, 'src/cli.ts'), 'import-slack', folder, '--team', `cli ${path.basename(folder)}`, '--summary'];
    return new Promise((resolve) => {
      execFile(process.execPath, args, { cwd: ROOT, env }, (error, stdout, stderr) => resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr }));
    });
  }

  it('downloads with CHATTERBOX_SLACK_TOKEN', { timeout: 60_000 }, async () => {
    const before = seen.length;
    const folder = writeExport('cli', [{ id: 'FCLI', name: 'cli.txt', url: `${slackOrigin}/ok/cli.txt` }]);
    const result = await runCli(folder, { CHATTERBOX_SLACK_TOKEN: TOKEN });

    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ files_downloaded: 1, file_placeholders: 0 });
    expect(seen.slice(before)).toEqual([{ path: '/ok/cli.txt', authorization: `Bearer ${TOKEN}` }]);
    expect(result.stderr).not.toContain(TOKEN);
  });

  it('rejects an invalid CHATTERBOX_SLACK_TOKEN', { timeout: 60_000 }, async () => {
    const folder = writeExport('cli-bad', [{ id: 'FCLIBAD', name: 'bad.txt', url: `${slackOrigin}/ok/bad.txt` }]);
    const result = await runCli(folder, { CHATTERBOX_SLACK_TOKEN: 'has spaces in it' });

    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain('CHATTERBOX_SLACK_TOKEN must be a Slack token');
  });
});

describe('downloader address checks', () => {
  const config = (allowedAddresses: string[], hosts: string[]) => ({ ...buildConfig().slackFiles, hosts, allowedAddresses, caFile: certFile, timeoutMs: TIMEOUT_MS });

  it('rejects a loopback address in the URL', async () => {
    const host = new URL(slackOrigin).host;
    const downloader = new SlackFileDownloader(config([], [host]), TOKEN, MAX_FILE_BYTES);
    const before = seen.length;
    await expect(downloader.open(`${slackOrigin}/ok/a.txt`, undefined)).rejects.toThrow(/127\.0\.0\.1 is loopback/);
    expect(seen.length).toBe(before);
    downloader.close();
  });

  it('rejects a name that resolves to loopback', async () => {
    const port = new URL(slackOrigin).port;
    const downloader = new SlackFileDownloader(config([], [`localhost:${port}`]), TOKEN, MAX_FILE_BYTES);
    const before = seen.length;
    await expect(downloader.open(`https://localhost:${port}/ok/a.txt`, undefined)).rejects.toThrow(DownloadFailed);
    await expect(downloader.open(`https://localhost:${port}/ok/a.txt`, undefined)).rejects.toThrow(/loopback, private/);
    expect(seen.length).toBe(before);
    downloader.close();
  });

  it('matches hosts with their port', async () => {
    const downloader = new SlackFileDownloader(config(['127.0.0.1/32'], ['127.0.0.1']), TOKEN, MAX_FILE_BYTES);
    await expect(downloader.open(`${slackOrigin}/ok/a.txt`, undefined)).rejects.toThrow(/is not in CHATTERBOX_SLACK_FILE_HOSTS/);
    downloader.close();
  });
});

describe('download settings', () => {
  it('reads the environment', () => {
    const config = loadConfig({
      CHATTERBOX_SLACK_FILE_HOSTS: 'Files.Example.test, files.example.test:8443',
      CHATTERBOX_SLACK_FILE_ALLOWED_ADDRESSES: '10.1.0.0/16',
      CHATTERBOX_SLACK_FILE_TIMEOUT_MS: '5000',
    });
    expect(config.slackFiles.hosts).toEqual(['files.example.test', 'files.example.test:8443']);
    expect(config.slackFiles.allowedAddresses).toEqual(['10.1.0.0/16']);
    expect(config.slackFiles.timeoutMs).toBe(5000);
  });

  it('defaults to Slack\'s file host', () => {
    expect(loadConfig({}).slackFiles.hosts).toEqual(['files.slack.com']);
  });

  it.each([
    ['CHATTERBOX_SLACK_FILE_HOSTS', 'https://files.slack.com/'],
    ['CHATTERBOX_SLACK_FILE_ALLOWED_ADDRESSES', 'not-an-address'],
    ['CHATTERBOX_SLACK_FILE_TIMEOUT_MS', '10'],
  ])('rejects an invalid %s', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(name);
  });
});
