import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiClient } from '../../src/client/api.js';
import { buildChannel, buildTeam, buildUser, type TestTeam, type TestUser } from '../helpers/factories.js';
import { buildPng, fetchBytes, uploadFile, type FileBody } from '../helpers/files.js';
import { listen, waitUntil } from '../helpers/realtime.js';
import { removeDataDir, startServer, type TestServer } from '../helpers/server.js';

// Files in messages: attaching with file_ids over HTTP and the socket,
// thumbnails made in the background, deletion with the message, and lists.

interface MessageBody {
  id: string;
  text: string;
  files: FileBody[];
}

let server: TestServer;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;
let team: TestTeam;

beforeAll(async () => {
  server = await startServer();
  alice = await buildUser(server.url, 'alice');
  bob = await buildUser(server.url, 'bob');
  carol = await buildUser(server.url, 'carol');
  team = await buildTeam(alice, [bob, carol]);
});
afterAll(async () => server.close());

function blobFiles(): string[] {
  const root = path.join(server.dataDir, 'files', 'f');
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).map((entry) => entry.name);
}

async function waitForThumbnail(user: TestUser, fileId: string): Promise<FileBody> {
  let file: FileBody | undefined;
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    file = await user.api.get<FileBody>(`/api/files/${fileId}`);
    if (file.thumbnail_url !== null) return file;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no thumbnail for ${fileId}: ${JSON.stringify(file)}`);
}

describe('posting files', () => {
  test('message with files and no text', async () => {
    const first = await uploadFile(server.url, alice, team.generalId, Buffer.from('one'), { name: 'one.txt' });
    const second = await uploadFile(server.url, alice, team.generalId, Buffer.from('two'), { name: 'two.txt' });
    const message = await alice.api.post<MessageBody>(`/api/conversations/${team.generalId}/messages`, { text: '', file_ids: [second.id, first.id] });
    expect(message.text).toBe('');
    expect(message.files.map((file) => file.name)).toEqual(['two.txt', 'one.txt']);
    expect(message.files[0]).toMatchObject({ id: second.id, message_id: message.id, size: 3, mime_type: 'text/plain', thumbnail_url: null });

    const fetched = await bob.api.get<MessageBody>(`/api/messages/${message.id}`);
    expect(fetched.files.map((file) => file.id).sort()).toEqual([first.id, second.id].sort());
    const history = await bob.api.get<{ messages: MessageBody[] }>(`/api/conversations/${team.generalId}/messages?limit=5`);
    expect(history.messages.at(-1)?.files.length).toBe(2);
  });

  test('message.posted carries the files', async () => {
    const listener = await listen(server.wsUrl, bob.token);
    try {
      const file = await uploadFile(server.url, alice, team.generalId, Buffer.from('hi'), { name: 'hi.txt' });
      await alice.api.post(`/api/conversations/${team.generalId}/messages`, { text: 'see attached', file_ids: [file.id] });
      await listener.waitFor((events) => events.some((event) => event.event === 'message.posted' && (event.data.message as MessageBody).text === 'see attached'));
      const posted = listener.events.find((event) => event.event === 'message.posted' && (event.data.message as MessageBody).text === 'see attached');
      expect((posted?.data.message as MessageBody).files.map((entry) => entry.id)).toEqual([file.id]);
    } finally {
      listener.client.stop();
    }
  });

  test('thread reply with a file', async () => {
    const root = await alice.api.post<MessageBody>(`/api/conversations/${team.generalId}/messages`, { text: 'root' });
    const file = await uploadFile(server.url, bob, team.generalId, Buffer.from('reply file'), { name: 'r.txt' });
    const reply = await bob.api.post<MessageBody>(`/api/conversations/${team.generalId}/messages`, { text: '', thread_root_id: root.id, file_ids: [file.id] });
    const thread = await alice.api.get<{ replies: MessageBody[] }>(`/api/messages/${root.id}/thread`);
    expect(thread.replies.find((entry) => entry.id === reply.id)?.files[0]?.id).toBe(file.id);
  });

  test('socket post frame attaches files', async () => {
    const file = await uploadFile(server.url, alice, team.generalId, Buffer.from('via socket'), { name: 's.txt' });
    const socket = new WebSocket(server.wsUrl, { headers: { authorization: `Bearer ${alice.token}` } });
    const frames: Array<Record<string, unknown>> = [];
    socket.on('message', (data) => frames.push(JSON.parse(data.toString()) as Record<string, unknown>));
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send(JSON.stringify({ type: 'hello', positions: {} }));
    await waitUntil(() => frames.some((frame) => frame.type === 'ready'));
    socket.send(JSON.stringify({ type: 'post', id: 7, conversation_id: team.generalId, text: '', file_ids: [file.id] }));
    await waitUntil(() => frames.some((frame) => frame.type === 'ack' || frame.type === 'error'));
    const ack = frames.find((frame) => frame.type === 'ack') as { message: MessageBody } | undefined;
    socket.close();
    expect(ack?.message.files.map((entry) => entry.id)).toEqual([file.id]);
  });
});

describe('thumbnails', () => {
  /** Uploads an image and posts it, which queues its thumbnail. */
  async function postImage(png: Buffer, name: string): Promise<{ file: FileBody; message: MessageBody }> {
    const file = await uploadFile(server.url, alice, team.generalId, png, { name, type: 'image/png' });
    const message = await alice.api.post<MessageBody>(`/api/conversations/${team.generalId}/messages`, { text: name, file_ids: [file.id] });
    return { file, message };
  }

  test('posted image gets a thumbnail and file.updated', async () => {
    const listener = await listen(server.wsUrl, bob.token);
    try {
      const { file, message } = await postImage(await buildPng(1200, 600), 'wide.png');
      expect(message.files[0]).toMatchObject({ width: null, height: null, thumbnail_url: null });

      await listener.waitFor((events) => events.some((event) => event.event === 'file.updated'), 10_000);
      const updated = listener.events.find((event) => event.event === 'file.updated')?.data.file as FileBody;
      expect(updated).toMatchObject({ id: file.id, message_id: message.id, width: 1200, height: 600, thumbnail_url: `/api/files/${file.id}/thumbnail` });
      expect((await bob.api.get<MessageBody>(`/api/messages/${message.id}`)).files[0]).toEqual(updated);

      const thumbnail = await fetchBytes(server.url + (updated.thumbnail_url ?? ''), { token: bob.token });
      expect(thumbnail.status).toBe(200);
      expect(thumbnail.headers.get('content-type')).toBe('image/webp');
      expect(thumbnail.body.subarray(8, 12).toString('ascii')).toBe('WEBP');
    } finally {
      listener.client.stop();
    }
  });

  test('unposted upload gets no thumbnail', async () => {
    const file = await uploadFile(server.url, alice, team.generalId, await buildPng(30, 30), { name: 'draft.png', type: 'image/png' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await alice.api.get<FileBody>(`/api/files/${file.id}`)).thumbnail_url).toBeNull();
  });

  test('thumbnail fits 400 pixels', async () => {
    const { file } = await postImage(await buildPng(1000, 2000), 'tall.png');
    const ready = await waitForThumbnail(alice, file.id);
    expect([ready.width, ready.height]).toEqual([1000, 2000]);
    const thumbnail = await fetchBytes(server.url + (ready.thumbnail_url ?? ''), { token: alice.token });
    const metadata = await sharp(thumbnail.body).metadata();
    expect([metadata.width, metadata.height]).toEqual([200, 400]);
  });

  test('corrupt image gets none and stays downloadable', async () => {
    const { file } = await postImage(Buffer.from('not a png at all'), 'broken.png');
    // A second, valid image queued after it proves the queue went past the broken one.
    const { file: valid } = await postImage(await buildPng(20, 20), 'after-broken.png');
    await waitForThumbnail(alice, valid.id);
    expect((await alice.api.get<FileBody>(`/api/files/${file.id}`)).thumbnail_url).toBeNull();
    expect((await fetchBytes(server.url + file.url, { token: alice.token })).status).toBe(200);
  });

  test('queued thumbnail survives a restart', async () => {
    // The first node runs no jobs, as a node that stops right after the post would leave its work.
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-thumbnail-'));
    const first = await startServer({ dataDir, jobs: { enabled: false } });
    let second: TestServer | undefined;
    try {
      const owner = await buildUser(first.url, 'thumbowner');
      const ownTeam = await buildTeam(owner, []);
      const file = await uploadFile(first.url, owner, ownTeam.generalId, await buildPng(40, 20), { name: 'later.png', type: 'image/png' });
      await owner.api.post(`/api/conversations/${ownTeam.generalId}/messages`, { text: 'later', file_ids: [file.id] });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect((await owner.api.get<FileBody>(`/api/files/${file.id}`)).thumbnail_url).toBeNull();
      await first.close();

      second = await startServer({ dataDir });
      const ready = await waitForThumbnail({ ...owner, api: new ApiClient(second.url, owner.token) }, file.id);
      expect([ready.width, ready.height]).toEqual([40, 20]);
    } finally {
      await first.close();
      await second?.close();
      await removeDataDir(dataDir);
    }
  });

  test('no thumbnail answers 404', async () => {
    const file = await uploadFile(server.url, alice, team.generalId, Buffer.from('text'), { name: 'a.txt' });
    const response = await fetchBytes(`${server.url}/api/files/${file.id}/thumbnail`, { token: alice.token });
    expect(response.status).toBe(404);
    expect(JSON.parse(response.body.toString()).error.code).toBe('FILE_NOT_FOUND');
  });

  test('signed thumbnail link', async () => {
    const { file } = await postImage(await buildPng(50, 50), 'small.png');
    await waitForThumbnail(alice, file.id);
    const links = await bob.api.post<{ thumbnail_url: string }>(`/api/files/${file.id}/links`, {});
    const response = await fetchBytes(server.url + links.thumbnail_url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/webp');
    // A thumbnail link does not open the content.
    const swapped = links.thumbnail_url.replace('/thumbnail?', '/content?');
    expect((await fetchBytes(server.url + swapped)).status).toBe(403);
  });
});

describe('deleting', () => {
  test('deleting the message deletes its files and blobs', async () => {
    const before = blobFiles().length;
    const file = await uploadFile(server.url, bob, team.generalId, Buffer.from('temporary'), { name: 'tmp.txt' });
    const message = await bob.api.post<MessageBody>(`/api/conversations/${team.generalId}/messages`, { text: 'soon gone', file_ids: [file.id] });
    expect(blobFiles().length).toBe(before + 1);

    await bob.api.delete(`/api/messages/${message.id}`);
    expect((await fetchBytes(server.url + file.url, { token: bob.token })).status).toBe(404);
    expect(blobFiles().length).toBe(before);
    const list = await bob.api.get<{ files: FileBody[] }>(`/api/conversations/${team.generalId}/files`);
    expect(list.files.some((entry) => entry.id === file.id)).toBe(false);
  });

  test('deleting a file sends file.deleted', async () => {
    const listener = await listen(server.wsUrl, carol.token);
    try {
      const file = await uploadFile(server.url, bob, team.generalId, Buffer.from('x'), { name: 'x.txt' });
      const message = await bob.api.post<MessageBody>(`/api/conversations/${team.generalId}/messages`, { text: 'with file', file_ids: [file.id] });
      await bob.api.delete(`/api/files/${file.id}`);
      await listener.waitFor((events) => events.some((event) => event.event === 'file.deleted'));
      const event = listener.events.find((entry) => entry.event === 'file.deleted');
      expect(event?.data).toEqual({ file_id: file.id, message_id: message.id });
      expect((await carol.api.get<MessageBody>(`/api/messages/${message.id}`)).files).toEqual([]);
    } finally {
      listener.client.stop();
    }
  });
});

describe('lists', () => {
  let listTeam: TestTeam;
  let secretId: string;
  const shared: string[] = [];

  beforeAll(async () => {
    listTeam = await buildTeam(alice, [bob, carol], 'Lists');
    const secret = await buildChannel(alice, listTeam.id, { name: 'secret', private: true, members: [bob] });
    secretId = secret.id;
    for (let index = 0; index < 5; index += 1) {
      const conversationId = index % 2 === 0 ? listTeam.generalId : secretId;
      const file = await uploadFile(server.url, alice, conversationId, Buffer.from(`file ${index}`), { name: `f${index}.txt` });
      await alice.api.post(`/api/conversations/${conversationId}/messages`, { text: '', file_ids: [file.id] });
      shared.push(file.id);
      // Distinct creation times keep the expected order independent of id order.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    // An unattached upload is in no list.
    await uploadFile(server.url, alice, listTeam.generalId, Buffer.from('draft'), { name: 'draft.txt' });
  });

  test('conversation list newest first', async () => {
    const page = await bob.api.get<{ files: FileBody[]; next_cursor: string | null }>(`/api/conversations/${listTeam.generalId}/files`);
    expect(page.files.map((file) => file.id)).toEqual([shared[4], shared[2], shared[0]]);
    expect(page.next_cursor).toBeNull();
  });

  test('team list shows what the user may read', async () => {
    const forBob = await bob.api.get<{ files: FileBody[] }>(`/api/teams/${listTeam.id}/files`);
    expect(forBob.files.map((file) => file.id)).toEqual([...shared].reverse());
    const forCarol = await carol.api.get<{ files: FileBody[] }>(`/api/teams/${listTeam.id}/files`);
    expect(forCarol.files.map((file) => file.id)).toEqual([shared[4], shared[2], shared[0]]);
  });

  test('pages follow the cursor', async () => {
    const first = await bob.api.get<{ files: FileBody[]; next_cursor: string }>(`/api/teams/${listTeam.id}/files?limit=2`);
    expect(first.files.map((file) => file.id)).toEqual([shared[4], shared[3]]);
    const second = await bob.api.get<{ files: FileBody[]; next_cursor: string }>(`/api/teams/${listTeam.id}/files?limit=2&before=${first.next_cursor}`);
    expect(second.files.map((file) => file.id)).toEqual([shared[2], shared[1]]);
    const third = await bob.api.get<{ files: FileBody[]; next_cursor: string | null }>(`/api/teams/${listTeam.id}/files?limit=2&before=${second.next_cursor}`);
    expect(third.files.map((file) => file.id)).toEqual([shared[0]]);
    expect(third.next_cursor).toBeNull();
  });

  test('bad cursor names the field', async () => {
    const response = await fetchBytes(`${server.url}/api/teams/${listTeam.id}/files?before=nonsense`, { token: bob.token });
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body.toString()).error).toMatchObject({ code: 'INVALID_CURSOR', field: 'before' });
  });

  test('private channel list hidden from non-members', async () => {
    const response = await fetchBytes(`${server.url}/api/conversations/${secretId}/files`, { token: carol.token });
    expect(response.status).toBe(404);
  });

  test('other team list is hidden', async () => {
    const stranger = await buildUser(server.url, 'stranger');
    const response = await fetchBytes(`${server.url}/api/teams/${listTeam.id}/files`, { token: stranger.token });
    expect(response.status).toBe(404);
    expect(JSON.parse(response.body.toString()).error.code).toBe('TEAM_NOT_FOUND');
  });
});
