import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildChannel, buildTeam, buildUser, type TestTeam, type TestUser } from '../helpers/factories.js';
import {
  fetchBytes,
  fetchSha256,
  json,
  patternBytes,
  patternSha256,
  patternStream,
  tusCreate,
  tusHead,
  tusMetadata,
  tusPatch,
  tusPatchCut,
  type FileBody,
} from '../helpers/files.js';
import { startServer, type TestServer } from '../helpers/server.js';

// Resumable uploads over the tus protocol: creation, chunks, resuming after a
// cut connection, limits, expiry and who may touch an upload.

const MAX_FILE_BYTES = 256 * 1024 * 1024;

let server: TestServer;
let alice: TestUser;
let bob: TestUser;
let team: TestTeam;

beforeAll(async () => {
  server = await startServer({ files: { maxFileBytes: MAX_FILE_BYTES } });
  alice = await buildUser(server.url, 'alice');
  bob = await buildUser(server.url, 'bob');
  team = await buildTeam(alice, [bob]);
});
afterAll(async () => server.close());

async function create(user: TestUser, size: number, conversationId = team.generalId, name = 'movie.mp4'): Promise<string> {
  const response = await tusCreate(server.url, user.token, { conversationId, name, type: 'video/mp4', size });
  expect(response.status).toBe(201);
  const location = response.headers.get('location') ?? '';
  expect(location).toMatch(/^\/api\/uploads\/[0-9a-f-]{36}$/);
  return location;
}

function fileIdOf(location: string): string {
  return location.split('/').at(-1) as string;
}

describe('protocol', () => {
  test('OPTIONS lists the extensions and limit', async () => {
    const response = await fetchBytes(`${server.url}/api/uploads`, { method: 'OPTIONS' });
    expect(response.status).toBe(204);
    expect(response.headers.get('tus-version')).toBe('1.0.0');
    expect(response.headers.get('tus-extension')).toBe('creation,creation-with-upload,termination,expiration');
    expect(response.headers.get('tus-max-size')).toBe(String(MAX_FILE_BYTES));
  });

  test('upload in three chunks', async () => {
    const bytes = await patternBytes(300_000, 'three');
    const location = await create(alice, bytes.length);
    expect((await tusHead(server.url, alice.token, location)).headers.get('upload-offset')).toBe('0');

    let offset = 0;
    for (const size of [100_000, 100_000, 100_000]) {
      const response = await tusPatch(server.url, alice.token, location, offset, bytes.subarray(offset, offset + size));
      expect(response.status).toBe(204);
      offset += size;
      expect(response.headers.get('upload-offset')).toBe(String(offset));
      if (offset === bytes.length) expect(response.headers.get('chatterbox-file-id')).toBe(fileIdOf(location));
    }

    const file = await alice.api.get<FileBody>(`/api/files/${fileIdOf(location)}`);
    expect(file).toMatchObject({ name: 'movie.mp4', mime_type: 'video/mp4', size: bytes.length, message_id: null });
    const download = await fetchBytes(server.url + file.url, { token: alice.token });
    expect(download.body.equals(bytes)).toBe(true);
    // The finished upload reports itself complete to a client that resumes it.
    const head = await tusHead(server.url, alice.token, location);
    expect(head.status).toBe(200);
    expect(head.headers.get('upload-offset')).toBe(String(bytes.length));
  });

  test('creation with upload', async () => {
    const bytes = Buffer.from('all in the first request');
    const response = await fetchBytes(`${server.url}/api/uploads`, {
      method: 'POST',
      token: alice.token,
      headers: {
        'tus-resumable': '1.0.0',
        'upload-length': String(bytes.length),
        'upload-metadata': tusMetadata({ conversation_id: team.generalId, filename: 'note.txt', filetype: 'text/plain' }),
        'content-type': 'application/offset+octet-stream',
      },
      body: bytes,
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('upload-offset')).toBe(String(bytes.length));
    const file = await alice.api.get<FileBody>(`/api/files/${fileIdOf(response.headers.get('location') ?? '')}`);
    expect(file.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
  });

  test('empty file completes at creation', async () => {
    const location = await create(alice, 0, team.generalId, 'empty.txt');
    const file = await alice.api.get<FileBody>(`/api/files/${fileIdOf(location)}`);
    expect(file.size).toBe(0);
  });

  test('resume after a cut connection', async () => {
    const bytes = await patternBytes(2 * 1024 * 1024, 'cut');
    const location = await create(alice, bytes.length);

    // The connection drops after 700,000 of the 2 MiB sent in one PATCH.
    await tusPatchCut(server.url, alice.token, location, 0, bytes, 700_000);
    const head = await tusHead(server.url, alice.token, location);
    expect(head.status).toBe(200);
    const offset = Number(head.headers.get('upload-offset'));
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThanOrEqual(700_000);

    const rest = await tusPatch(server.url, alice.token, location, offset, bytes.subarray(offset));
    expect(rest.status).toBe(204);
    const download = await fetchBytes(`${server.url}/api/files/${fileIdOf(location)}/content`, { token: alice.token });
    expect(download.body.equals(bytes)).toBe(true);
  });

  test('wrong offset answers 409', async () => {
    const location = await create(alice, 100);
    const response = await tusPatch(server.url, alice.token, location, 50, Buffer.alloc(50));
    expect(response.status).toBe(409);
  });

  test('bytes past the declared length answer 413', async () => {
    const location = await create(alice, 10);
    const response = await tusPatch(server.url, alice.token, location, 0, Buffer.alloc(20));
    expect(response.status).toBe(413);
    expect((await tusHead(server.url, alice.token, location)).headers.get('upload-offset')).toBe('0');
  });

  test('cancelled upload is gone', async () => {
    const location = await create(alice, 1000);
    await tusPatch(server.url, alice.token, location, 0, Buffer.alloc(500));
    const response = await fetchBytes(server.url + location, { method: 'DELETE', token: alice.token, headers: { 'tus-resumable': '1.0.0' } });
    expect(response.status).toBe(204);
    const head = await tusHead(server.url, alice.token, location);
    expect(head.status).toBe(404);
    expect(await server.server.ctx.storage.db.selectFrom('uploads').select('id').where('id', '=', fileIdOf(location)).execute()).toEqual([]);
  });

  test('200 MB upload round trip', async () => {
    const size = 200 * 1024 * 1024;
    const location = await create(alice, size, team.generalId, 'big.bin');
    const response = await tusPatch(server.url, alice.token, location, 0, patternStream(size, 'big'));
    expect(response.status).toBe(204);
    const download = await fetchSha256(`${server.url}/api/files/${fileIdOf(location)}/content`, alice.token);
    expect(download).toEqual({ status: 200, sha256: await patternSha256(size, 'big'), bytes: size });
  }, 120_000);
});

describe('checks before any byte', () => {
  async function expectRejected(headers: Record<string, string>, status: number, field: string | undefined, code: string) {
    const response = await fetchBytes(`${server.url}/api/uploads`, { method: 'POST', token: alice.token, headers: { 'tus-resumable': '1.0.0', ...headers } });
    expect(response.status).toBe(status);
    const error = json<{ error: { code: string; field?: string } }>(response).error;
    expect(error.code).toBe(code);
    if (field !== undefined) expect(error.field).toBe(field);
  }

  const metadata = () => tusMetadata({ conversation_id: team.generalId, filename: 'a.bin' });

  test('declared length past limit answers 413', async () => {
    await expectRejected({ 'upload-length': String(MAX_FILE_BYTES + 1), 'upload-metadata': metadata() }, 413, 'upload-length', 'FILE_TOO_LARGE');
  });

  test('missing length names the header', async () => {
    await expectRejected({ 'upload-metadata': metadata() }, 400, 'upload-length', 'VALIDATION_FAILED');
  });

  test('deferred length is rejected', async () => {
    await expectRejected({ 'upload-defer-length': '1', 'upload-metadata': metadata() }, 400, 'upload-length', 'VALIDATION_FAILED');
  });

  test('missing conversation names the field', async () => {
    await expectRejected({ 'upload-length': '1', 'upload-metadata': tusMetadata({ filename: 'a.bin' }) }, 400, 'upload-metadata/conversation_id', 'VALIDATION_FAILED');
  });

  test('missing file name names the field', async () => {
    await expectRejected({ 'upload-length': '1', 'upload-metadata': tusMetadata({ conversation_id: team.generalId }) }, 400, 'upload-metadata/filename', 'VALIDATION_FAILED');
  });

  test('malformed metadata names the header', async () => {
    await expectRejected({ 'upload-length': '1', 'upload-metadata': 'filename not-base64!' }, 400, 'upload-metadata', 'VALIDATION_FAILED');
  });

  test('without session answers 401', async () => {
    const response = await fetchBytes(`${server.url}/api/uploads`, { method: 'POST', headers: { 'tus-resumable': '1.0.0', 'upload-length': '1', 'upload-metadata': metadata() } });
    expect(response.status).toBe(401);
    const location = await create(alice, 10);
    for (const method of ['HEAD', 'PATCH', 'DELETE']) {
      const attempt = await fetchBytes(server.url + location, { method, headers: { 'tus-resumable': '1.0.0', 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' } });
      expect(attempt.status).toBe(401);
    }
  });
});

describe('access', () => {
  test('other team cannot create', async () => {
    const stranger = await buildUser(server.url, 'stranger');
    const response = await tusCreate(server.url, stranger.token, { conversationId: team.generalId, name: 'a.bin', size: 1 });
    expect(response.status).toBe(404);
    expect(json<{ error: { code: string } }>(response).error.code).toBe('CONVERSATION_NOT_FOUND');
  });

  test('private channel hidden from teammates', async () => {
    const hidden = await buildChannel(alice, team.id, { name: 'tus-hidden', private: true });
    const response = await tusCreate(server.url, bob.token, { conversationId: hidden.id, name: 'a.bin', size: 1 });
    expect(response.status).toBe(404);
  });

  test('another user cannot see, continue or cancel', async () => {
    const location = await create(alice, 100);
    for (const response of [
      await tusHead(server.url, bob.token, location),
      await tusPatch(server.url, bob.token, location, 0, Buffer.alloc(10)),
      await fetchBytes(server.url + location, { method: 'DELETE', token: bob.token, headers: { 'tus-resumable': '1.0.0' } }),
    ]) {
      expect(response.status).toBe(404);
    }
    expect((await tusHead(server.url, alice.token, location)).headers.get('upload-offset')).toBe('0');
  });

  test('removed member cannot continue', async () => {
    const room = await buildChannel(alice, team.id, { name: 'tus-room', private: true, members: [bob] });
    const location = await create(bob, 100, room.id);
    expect((await tusPatch(server.url, bob.token, location, 0, Buffer.alloc(50))).status).toBe(204);
    await alice.api.delete(`/api/conversations/${room.id}/members/${bob.id}`);
    const response = await tusPatch(server.url, bob.token, location, 50, Buffer.alloc(50));
    expect(response.status).toBe(404);
    expect(json<{ error: { code: string } }>(response).error.code).toBe('CONVERSATION_NOT_FOUND');
  });

  test('access lost before the last byte stores no file', async () => {
    const room = await buildChannel(alice, team.id, { name: 'tus-archive', members: [bob] });
    const location = await create(bob, 100, room.id);
    expect((await tusPatch(server.url, bob.token, location, 0, Buffer.alloc(50))).status).toBe(204);
    await alice.api.post(`/api/conversations/${room.id}/archive`);
    const response = await tusPatch(server.url, bob.token, location, 50, Buffer.alloc(50));
    expect(response.status).toBe(409);
    expect(await server.server.ctx.storage.db.selectFrom('files').select('id').where('id', '=', fileIdOf(location)).execute()).toEqual([]);
  });
});

describe('expiry', () => {
  test('expired upload answers 410', async () => {
    const short = await startServer({ files: { uploadExpiryMs: 500 } });
    try {
      const carol = await buildUser(short.url, 'carol');
      const carolTeam = await buildTeam(carol);
      const response = await tusCreate(short.url, carol.token, { conversationId: carolTeam.generalId, name: 'slow.bin', size: 100 });
      const location = response.headers.get('location') ?? '';
      expect(response.headers.get('upload-expires')).not.toBeNull();
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect((await tusPatch(short.url, carol.token, location, 0, Buffer.alloc(100))).status).toBe(410);
      expect((await tusHead(short.url, carol.token, location)).status).toBe(410);
    } finally {
      await short.close();
    }
  });
});

describe('two nodes', () => {
  test('parallel patches store one file', async () => {
    // A second node on the same storage, as behind a load balancer that splits a client's retries.
    const other = await startServer({ dataDir: server.dataDir, files: { maxFileBytes: MAX_FILE_BYTES } });
    try {
      const bytes = await patternBytes(3_000_000, 'two-nodes');
      const location = await create(alice, bytes.length);

      const responses = await Promise.all([
        tusPatch(server.url, alice.token, location, 0, bytes),
        tusPatch(other.url, alice.token, location, 0, bytes),
      ]);

      const statuses = responses.map((response) => response.status);
      expect(statuses).toContain(204);
      for (const status of statuses) expect([204, 409]).toContain(status);
      const file = await alice.api.get<FileBody>(`/api/files/${fileIdOf(location)}`);
      expect(file.size).toBe(bytes.length);
      for (const url of [server.url, other.url]) {
        const download = await fetchBytes(url + file.url, { token: alice.token });
        expect(download.body.equals(bytes)).toBe(true);
      }
    } finally {
      await other.close();
    }
  });
});
