import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildChannel, buildTeam, buildUser, type TestTeam, type TestUser } from '../helpers/factories.js';
import { fetchBytes, fetchSha256, json, patternBytes, patternSha256, patternStream, uploadFile, uploadOnce, type FileBody } from '../helpers/files.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { startS3Server, type TestS3Server } from '../helpers/s3.js';

// One-shot uploads and whole-file downloads, byte for byte, on the local
// store and on an S3 server started on 127.0.0.1.

const MAX_FILE_BYTES = 8 * 1024 * 1024;

function listFiles(directory: string): string[] {
  if (!fs.existsSync(directory)) return [];
  return fs.readdirSync(directory, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
}

describe.each(['local', 's3'] as const)('one-shot uploads on the %s store', (store) => {
  let server: TestServer;
  let s3: TestS3Server | undefined;
  let alice: TestUser;
  let team: TestTeam;

  beforeAll(async () => {
    s3 = store === 's3' ? await startS3Server() : undefined;
    server = await startServer({ files: { maxFileBytes: MAX_FILE_BYTES, ...(s3 !== undefined && { store: 's3', s3: s3.s3 }) } });
    alice = await buildUser(server.url, 'alice');
    team = await buildTeam(alice);
  });
  afterAll(async () => {
    await server.close();
    await s3?.close();
  });

  test.each([0, 1, 5 * 1024 * 1024])('round trip of %i bytes', async (size) => {
    const bytes = await patternBytes(size, `round-${size}`);
    const file = await uploadFile(server.url, alice, team.generalId, bytes, { name: 'data.bin', type: 'application/octet-stream' });
    expect(file.size).toBe(size);
    expect(file.sha256).toBe(await patternSha256(size, `round-${size}`));
    expect(file.message_id).toBeNull();

    const download = await fetchBytes(server.url + file.url, { token: alice.token });
    expect(download.status).toBe(200);
    expect(download.headers.get('content-length')).toBe(String(size));
    expect(download.body.equals(bytes)).toBe(true);
  });

  test('streamed body without length', async () => {
    const size = 3 * 1024 * 1024 + 17;
    const response = await uploadOnce(server.url, alice, team.generalId, patternStream(size, 'chunked'), { name: 'chunked.bin' });
    expect(response.status).toBe(201);
    const file = json<FileBody>(response);
    const download = await fetchSha256(server.url + file.url, alice.token);
    expect(download).toEqual({ status: 200, sha256: await patternSha256(size, 'chunked'), bytes: size });
  });

  test('stored blob is not the plaintext', async () => {
    const marker = Buffer.from('PLAINTEXT-MARKER-'.repeat(1000));
    await uploadFile(server.url, alice, team.generalId, marker, { name: 'secret.txt' });
    const directory = s3 === undefined ? path.join(server.dataDir, 'files') : s3.directory;
    const blobs = listFiles(directory);
    expect(blobs.length).toBeGreaterThan(0);
    for (const blob of blobs) expect(fs.readFileSync(blob).includes('PLAINTEXT-MARKER-')).toBe(false);
  });
});

describe('upload limits and input', () => {
  let server: TestServer;
  let alice: TestUser;
  let team: TestTeam;

  beforeAll(async () => {
    server = await startServer({ files: { maxFileBytes: 1024 * 1024 } });
    alice = await buildUser(server.url, 'alice');
    team = await buildTeam(alice);
  });
  afterAll(async () => server.close());

  test('declared length past limit answers 413 unread', async () => {
    // Sends only the headers: the response must come before any body byte.
    const url = new URL(`${server.url}/api/conversations/${team.generalId}/files?name=big.bin`);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = http.request({
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: 'POST',
        headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/octet-stream', 'content-length': String(1024 * 1024 + 1) },
      });
      request.on('response', (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      });
      request.on('error', reject);
      request.flushHeaders();
    });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body).error).toMatchObject({ code: 'FILE_TOO_LARGE', field: 'content-length', max: 1024 * 1024 });
  });

  test('stream past limit answers 413', async () => {
    const response = await uploadOnce(server.url, alice, team.generalId, patternStream(2 * 1024 * 1024, 'over'), { name: 'over.bin' });
    expect(response.status).toBe(413);
    expect(json<{ error: { code: string } }>(response).error.code).toBe('FILE_TOO_LARGE');
    // Nothing of it stays: no row, and no blob once the failed write cleaned up.
    const rows = await server.server.ctx.storage.db.selectFrom('files').select('id').where('name', '=', 'over.bin').execute();
    expect(rows).toEqual([]);
  });

  test('exactly the limit is accepted', async () => {
    const bytes = await patternBytes(1024 * 1024, 'limit');
    const file = await uploadFile(server.url, alice, team.generalId, bytes, { name: 'limit.bin' });
    expect(file.size).toBe(1024 * 1024);
  });

  test('missing name answers 400', async () => {
    const response = await fetchBytes(`${server.url}/api/conversations/${team.generalId}/files`, { method: 'POST', token: alice.token, body: 'x' });
    expect(response.status).toBe(400);
    expect(json<{ error: { code: string; field: string } }>(response).error).toMatchObject({ code: 'VALIDATION_FAILED', field: 'name' });
  });

  test('JSON bytes are stored, not parsed', async () => {
    const bytes = Buffer.from('{"not": "parsed"}');
    const file = await uploadFile(server.url, alice, team.generalId, bytes, { name: 'data.json', type: 'application/json' });
    expect(file.mime_type).toBe('application/json');
    const download = await fetchBytes(server.url + file.url, { token: alice.token });
    expect(download.body.equals(bytes)).toBe(true);
  });

  test('invalid media type stored as octet-stream', async () => {
    const file = await uploadFile(server.url, alice, team.generalId, Buffer.from('x'), { name: 'x.bin', type: 'not a type' });
    expect(file.mime_type).toBe('application/octet-stream');
  });

  test('without session answers 401', async () => {
    const response = await fetchBytes(`${server.url}/api/conversations/${team.generalId}/files?name=a.txt`, { method: 'POST', body: 'x' });
    expect(response.status).toBe(401);
  });

  test('archived channel rejects uploads', async () => {
    const channel = await buildChannel(alice, team.id, { name: 'old' });
    await alice.api.post(`/api/conversations/${channel.id}/archive`);
    const response = await uploadOnce(server.url, alice, channel.id, Buffer.from('x'), { name: 'a.txt' });
    expect(response.status).toBe(409);
    expect(json<{ error: { code: string } }>(response).error.code).toBe('CONVERSATION_ARCHIVED');
  });
});
