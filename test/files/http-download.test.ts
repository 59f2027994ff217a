import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildTeam, buildUser, type TestTeam, type TestUser } from '../helpers/factories.js';
import { fetchBytes, json, patternBytes, uploadFile, type FileBody } from '../helpers/files.js';
import { startServer, type TestServer } from '../helpers/server.js';

// Downloads: ranges at the 64 KiB chunk boundaries of the encrypted blob,
// caching headers, and headers that keep active content from running.

const CHUNK = 64 * 1024;

let server: TestServer;
let alice: TestUser;
let team: TestTeam;

beforeAll(async () => {
  server = await startServer();
  alice = await buildUser(server.url, 'alice');
  team = await buildTeam(alice);
});
afterAll(async () => server.close());

function get(path: string, headers: Record<string, string> = {}, method = 'GET') {
  return fetchBytes(server.url + path, { method, token: alice.token, headers });
}

describe('ranges', () => {
  const size = 3 * CHUNK + 1000;
  let bytes: Buffer;
  let file: FileBody;

  beforeAll(async () => {
    bytes = await patternBytes(size, 'ranges');
    file = await uploadFile(server.url, alice, team.generalId, bytes, { name: 'clip.mp4', type: 'video/mp4' });
  });

  test.each([
    ['first byte', 0, 0],
    ['last byte of first chunk', CHUNK - 1, CHUNK - 1],
    ['first byte of second chunk', CHUNK, CHUNK],
    ['across a chunk boundary', CHUNK - 10, CHUNK + 9],
    ['across three chunks', CHUNK - 1, 2 * CHUNK],
    ['last partial chunk', 3 * CHUNK, size - 1],
    ['last byte', size - 1, size - 1],
  ])('%s', async (_name, start, end) => {
    const response = await get(file.url, { range: `bytes=${start}-${end}` });
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe(`bytes ${start}-${end}/${size}`);
    expect(response.headers.get('content-length')).toBe(String(end - start + 1));
    expect(response.body.equals(bytes.subarray(start, end + 1))).toBe(true);
  });

  test('suffix range', async () => {
    const response = await get(file.url, { range: 'bytes=-100' });
    expect(response.status).toBe(206);
    expect(response.body.equals(bytes.subarray(size - 100))).toBe(true);
  });

  test('open range', async () => {
    const response = await get(file.url, { range: `bytes=${2 * CHUNK}-` });
    expect(response.status).toBe(206);
    expect(response.body.equals(bytes.subarray(2 * CHUNK))).toBe(true);
  });

  test('range past the end answers 416', async () => {
    const response = await get(file.url, { range: `bytes=${size}-` });
    expect(response.status).toBe(416);
    expect(response.headers.get('content-range')).toBe(`bytes */${size}`);
    expect(json<{ error: { code: string } }>(response).error.code).toBe('RANGE_NOT_SATISFIABLE');
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  });

  test('several ranges get the whole file', async () => {
    const response = await get(file.url, { range: 'bytes=0-1,10-20' });
    expect(response.status).toBe(200);
    expect(response.body.equals(bytes)).toBe(true);
  });

  test('stale If-Range gets the whole file', async () => {
    const response = await get(file.url, { range: 'bytes=0-9', 'if-range': '"0000"' });
    expect(response.status).toBe(200);
    expect(response.body.length).toBe(size);
  });

  test('matching If-Range gets the range', async () => {
    const response = await get(file.url, { range: 'bytes=0-9', 'if-range': `"${file.sha256}"` });
    expect(response.status).toBe(206);
    expect(response.body.length).toBe(10);
  });

  test('ETag and If-None-Match', async () => {
    const first = await get(file.url);
    expect(first.headers.get('etag')).toBe(`"${file.sha256}"`);
    expect(first.headers.get('accept-ranges')).toBe('bytes');
    expect(first.headers.get('cache-control')).toBe('private, no-cache');
    const again = await get(file.url, { 'if-none-match': `"${file.sha256}"` });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
  });

  test('HEAD without session answers 401', async () => {
    const response = await fetchBytes(server.url + file.url, { method: 'HEAD' });
    expect(response.status).toBe(401);
  });

  test('HEAD sends headers only', async () => {
    const response = await get(file.url, {}, 'HEAD');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe(String(size));
    expect(response.headers.get('content-type')).toBe('video/mp4');
    expect(response.body.length).toBe(0);
  });

  test('range of an empty file answers 416', async () => {
    const empty = await uploadFile(server.url, alice, team.generalId, Buffer.alloc(0), { name: 'empty.txt' });
    const response = await get(empty.url, { range: 'bytes=0-' });
    expect(response.status).toBe(416);
    expect(response.headers.get('content-range')).toBe('bytes */0');
  });
});

describe('safe serving', () => {
  test('SVG with script is an attachment', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>');
    const file = await uploadFile(server.url, alice, team.generalId, svg, { name: 'logo.svg', type: 'image/svg+xml' });
    expect(file.mime_type).toBe('image/svg+xml');

    const response = await get(file.url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    expect(response.headers.get('content-disposition')).toMatch(/^attachment;/);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('content-security-policy')).toMatch(/^sandbox;/);
    expect(response.body.equals(svg)).toBe(true);
  });

  test.each([
    ['page.html', 'text/html'],
    ['page.xhtml', 'application/xhtml+xml'],
    ['feed.xml', 'text/xml'],
    ['app.js', 'text/javascript'],
    ['doc.pdf', 'application/pdf'],
  ])('%s (%s) is an attachment', async (name, type) => {
    const file = await uploadFile(server.url, alice, team.generalId, Buffer.from('<script>1</script>'), { name, type });
    const response = await get(file.url);
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    expect(response.headers.get('content-disposition')).toMatch(/^attachment;/);
  });

  test('PNG is inline with its type', async () => {
    const file = await uploadFile(server.url, alice, team.generalId, Buffer.from('not really a png'), { name: 'photo.png', type: 'image/png' });
    const inline = await get(file.url);
    expect(inline.headers.get('content-type')).toBe('image/png');
    expect(inline.headers.get('content-disposition')).toBe(`inline; filename="photo.png"; filename*=UTF-8''photo.png`);
    const forced = await get(`${file.url}?download=true`);
    expect(forced.headers.get('content-disposition')).toMatch(/^attachment;/);
  });

  test.each([
    ['../../etc/passwd', '_.._etc_passwd'],
    ['a\u0000b.txt', 'a_b.txt'],
    ['two\nlines.txt', 'two_lines.txt'],
    ['say "hi".txt', 'say "hi".txt'],
    ['photo\u202egnp.exe', 'photognp.exe'],
  ])('name %j is stored as %j', async (name, stored) => {
    const file = await uploadFile(server.url, alice, team.generalId, Buffer.from('x'), { name });
    expect(file.name).toBe(stored);
    const response = await get(file.url);
    const disposition = response.headers.get('content-disposition') ?? '';
    expect(disposition).not.toMatch(/[\u0000-\u001f\u007f]/);
    expect(decodeURIComponent(disposition.split("UTF-8''")[1] ?? '')).toBe(stored);
    expect(disposition.split('; ')[1]).toMatch(/^filename="[^"\\%]*"$/);
  });

  test('300-character name is cut', async () => {
    const file = await uploadFile(server.url, alice, team.generalId, Buffer.from('x'), { name: `${'n'.repeat(300)}.txt` });
    expect(Buffer.byteLength(file.name)).toBe(255);
    expect(file.name.endsWith('.txt')).toBe(true);
  });

  test('Unicode name round trip', async () => {
    const file = await uploadFile(server.url, alice, team.generalId, Buffer.from('x'), { name: 'Отчёт 2027 📈.txt' });
    expect(file.name).toBe('Отчёт 2027 📈.txt');
    const response = await get(file.url);
    expect(decodeURIComponent((response.headers.get('content-disposition') ?? '').split("UTF-8''")[1] ?? '')).toBe('Отчёт 2027 📈.txt');
  });
});
