import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildChannel, buildTeam, buildUser, type TestTeam, type TestUser } from '../helpers/factories.js';
import { fetchBytes, json, uploadFile, type FileBody } from '../helpers/files.js';
import { startServer, type TestServer } from '../helpers/server.js';

// Who may see, download, list, link and delete a file. Hidden files get the
// same 404 as missing ones, and access is checked again on every request.

let server: TestServer;
let owner: TestUser;
let member: TestUser;
let outsider: TestUser;
let stranger: TestUser;
let team: TestTeam;
let otherTeam: TestTeam;

interface ErrorBody {
  error: { code: string; field?: string };
}

beforeAll(async () => {
  server = await startServer();
  owner = await buildUser(server.url, 'owner');
  member = await buildUser(server.url, 'member');
  outsider = await buildUser(server.url, 'outsider');
  stranger = await buildUser(server.url, 'stranger');
  team = await buildTeam(owner, [member, outsider]);
  otherTeam = await buildTeam(stranger);
});
afterAll(async () => server.close());

/** Uploads as `user` and posts the file in a message, so it is shared in the conversation. */
async function share(user: TestUser, conversationId: string, text = ''): Promise<FileBody> {
  const file = await uploadFile(server.url, user, conversationId, Buffer.from(`content of ${text || 'file'}`), { name: 'shared.txt' });
  await user.api.post(`/api/conversations/${conversationId}/messages`, { text, file_ids: [file.id] });
  return file;
}

function as(user: TestUser, path: string, init: RequestInit = {}) {
  return fetchBytes(server.url + path, { ...init, token: user.token });
}

async function expectCode(response: Promise<{ status: number; body: Buffer }>, status: number, code: string): Promise<void> {
  const answer = await response;
  expect(answer.status).toBe(status);
  expect(json<ErrorBody>(answer).error.code).toBe(code);
}

/** Checks that every way of reading a file is denied as not found. */
async function expectHidden(user: TestUser, file: FileBody): Promise<void> {
  await expectCode(as(user, `/api/files/${file.id}`), 404, 'FILE_NOT_FOUND');
  await expectCode(as(user, file.url), 404, 'FILE_NOT_FOUND');
  await expectCode(as(user, `/api/files/${file.id}/links`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }), 404, 'FILE_NOT_FOUND');
  await expectCode(as(user, `/api/files/${file.id}`, { method: 'DELETE' }), 404, 'FILE_NOT_FOUND');
}

describe('reading', () => {
  test('member reads a shared file', async () => {
    const file = await share(owner, team.generalId, 'for everyone');
    const response = await as(member, file.url);
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('content of for everyone');
  });

  test('other team is denied', async () => {
    const file = await share(owner, team.generalId);
    await expectHidden(stranger, file);
  });

  test('private channel hides from teammates', async () => {
    const secret = await buildChannel(owner, team.id, { name: 'secret', private: true, members: [member] });
    const file = await share(owner, secret.id);
    expect((await as(member, file.url)).status).toBe(200);
    await expectHidden(outsider, file);
  });

  test('public channel readable by non-members', async () => {
    const open = await buildChannel(owner, team.id, { name: 'open' });
    const file = await share(owner, open.id);
    expect((await as(outsider, file.url)).status).toBe(200);
  });

  test('unattached upload is the uploader\'s alone', async () => {
    const file = await uploadFile(server.url, owner, team.generalId, Buffer.from('draft'), { name: 'draft.txt' });
    expect((await as(owner, file.url)).status).toBe(200);
    await expectHidden(member, file);
  });

  test('removed member loses access at once', async () => {
    const room = await buildChannel(owner, team.id, { name: 'room', private: true, members: [member] });
    const file = await share(owner, room.id);
    const { url } = await member.api.post<{ url: string }>(`/api/files/${file.id}/links`, {});
    expect((await as(member, file.url)).status).toBe(200);
    expect((await fetchBytes(server.url + url)).status).toBe(200);

    await owner.api.delete(`/api/conversations/${room.id}/members/${member.id}`);
    await expectHidden(member, file);
    // The signed link of the removed member stops working too.
    await expectCode(fetchBytes(server.url + url), 404, 'FILE_NOT_FOUND');
  });

  test('member removed from team loses access', async () => {
    const leaver = await buildUser(server.url, 'leaver');
    await owner.api.post(`/api/teams/${team.id}/members`, { user_id: leaver.id });
    const file = await share(owner, team.generalId);
    expect((await as(leaver, file.url)).status).toBe(200);
    await owner.api.delete(`/api/teams/${team.id}/members/${leaver.id}`);
    await expectHidden(leaver, file);
  });

  test('deleted file answers 404', async () => {
    const file = await share(owner, team.generalId);
    expect((await as(owner, `/api/files/${file.id}`, { method: 'DELETE' })).status).toBe(204);
    await expectHidden(owner, file);
    await expectHidden(member, file);
  });

  test('unknown id answers 404', async () => {
    await expectCode(as(owner, '/api/files/00000000-0000-4000-8000-000000000000/content'), 404, 'FILE_NOT_FOUND');
  });

  test('malformed id names the field', async () => {
    const response = await as(owner, '/api/files/not-an-id/content');
    expect(response.status).toBe(400);
    expect(json<ErrorBody>(response).error).toMatchObject({ code: 'VALIDATION_FAILED', field: 'fileId' });
  });

  test('without session answers 401', async () => {
    const file = await share(owner, team.generalId);
    for (const path of [`/api/files/${file.id}`, file.url, `/api/conversations/${team.generalId}/files`, `/api/teams/${team.id}/files`]) {
      expect((await fetchBytes(server.url + path)).status).toBe(401);
    }
  });
});

describe('signed links', () => {
  test('link downloads without a session', async () => {
    const file = await share(owner, team.generalId, 'linked');
    const links = await member.api.post<{ url: string; thumbnail_url: string | null; expires_at: string }>(`/api/files/${file.id}/links`, { expires_in: 60 });
    expect(links.url).toMatch(new RegExp(`^/api/files/${file.id}/content\\?expires=\\d+&user=${member.id}&signature=[\\w-]+$`));
    expect(links.thumbnail_url).toBeNull();
    const response = await fetchBytes(server.url + links.url);
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('content of linked');
  });

  test('expired link answers 403', async () => {
    const file = await share(owner, team.generalId);
    const { url } = await owner.api.post<{ url: string }>(`/api/files/${file.id}/links`, { expires_in: 1 });
    await new Promise((resolve) => setTimeout(resolve, 2100));
    await expectCode(fetchBytes(server.url + url), 403, 'SIGNED_LINK_EXPIRED');
  });

  test('forged signature answers 403', async () => {
    const file = await share(owner, team.generalId);
    const { url } = await owner.api.post<{ url: string }>(`/api/files/${file.id}/links`, {});
    const forged = url.replace(/signature=([\w-])/, (_match, first: string) => `signature=${first === 'A' ? 'B' : 'A'}`);
    await expectCode(fetchBytes(server.url + forged), 403, 'SIGNED_LINK_INVALID');
  });

  test('extended expiry answers 403', async () => {
    const file = await share(owner, team.generalId);
    const { url } = await owner.api.post<{ url: string }>(`/api/files/${file.id}/links`, { expires_in: 60 });
    const later = url.replace(/expires=(\d+)/, (_match, expires: string) => `expires=${Number(expires) + 86400}`);
    await expectCode(fetchBytes(server.url + later), 403, 'SIGNED_LINK_INVALID');
  });

  test('link of one file fails for another', async () => {
    const first = await share(owner, team.generalId);
    const second = await share(owner, team.generalId);
    const { url } = await owner.api.post<{ url: string }>(`/api/files/${first.id}/links`, {});
    await expectCode(fetchBytes(server.url + url.replace(first.id, second.id)), 403, 'SIGNED_LINK_INVALID');
  });

  test('link for another user fails', async () => {
    const file = await share(owner, team.generalId);
    const { url } = await member.api.post<{ url: string }>(`/api/files/${file.id}/links`, {});
    await expectCode(fetchBytes(server.url + url.replace(member.id, owner.id)), 403, 'SIGNED_LINK_INVALID');
  });

  test('expiry past a week names the field', async () => {
    const file = await share(owner, team.generalId);
    const response = await as(owner, `/api/files/${file.id}/links`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ expires_in: 8 * 86400 }) });
    expect(response.status).toBe(400);
    expect(json<ErrorBody>(response).error.field).toBe('expires_in');
  });
});

describe('deleting', () => {
  test('other member cannot delete', async () => {
    const file = await share(owner, team.generalId);
    await expectCode(as(member, `/api/files/${file.id}`, { method: 'DELETE' }), 403, 'FORBIDDEN');
    expect((await as(member, file.url)).status).toBe(200);
  });

  test('uploader deletes own file', async () => {
    const file = await share(member, team.generalId);
    expect((await as(member, `/api/files/${file.id}`, { method: 'DELETE' })).status).toBe(204);
    await expectHidden(owner, file);
  });

  test('team admin deletes any file', async () => {
    const file = await share(member, team.generalId);
    expect((await as(owner, `/api/files/${file.id}`, { method: 'DELETE' })).status).toBe(204);
  });

  test('team admin of another team cannot', async () => {
    const file = await share(owner, team.generalId);
    await expectCode(as(stranger, `/api/files/${file.id}`, { method: 'DELETE' }), 404, 'FILE_NOT_FOUND');
  });
});

describe('uploading', () => {
  test('other team cannot upload', async () => {
    const response = await fetchBytes(`${server.url}/api/conversations/${team.generalId}/files?name=a.txt`, { method: 'POST', token: stranger.token, body: 'x' });
    expect(response.status).toBe(404);
    expect(json<ErrorBody>(response).error.code).toBe('CONVERSATION_NOT_FOUND');
  });

  test('non-member of public channel must join', async () => {
    const open = await buildChannel(owner, team.id, { name: 'announcements' });
    const response = await fetchBytes(`${server.url}/api/conversations/${open.id}/files?name=a.txt`, { method: 'POST', token: outsider.token, body: 'x' });
    expect(response.status).toBe(403);
    expect(json<ErrorBody>(response).error.code).toBe('NOT_IN_CONVERSATION');
  });

  test('private channel hidden from non-members', async () => {
    const hidden = await buildChannel(owner, team.id, { name: 'hidden', private: true });
    const response = await fetchBytes(`${server.url}/api/conversations/${hidden.id}/files?name=a.txt`, { method: 'POST', token: member.token, body: 'x' });
    expect(response.status).toBe(404);
  });
});

describe('claiming', () => {
  async function post(user: TestUser, conversationId: string, body: Record<string, unknown>) {
    return fetchBytes(`${server.url}/api/conversations/${conversationId}/messages`, {
      method: 'POST',
      token: user.token,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  test('another user\'s upload cannot be claimed', async () => {
    const file = await uploadFile(server.url, owner, team.generalId, Buffer.from('x'));
    await expectCode(post(member, team.generalId, { text: 'mine now', file_ids: [file.id] }), 404, 'FILE_NOT_FOUND');
  });

  test('upload of another conversation cannot be claimed', async () => {
    const elsewhere = await buildChannel(owner, team.id, { name: 'elsewhere' });
    const file = await uploadFile(server.url, owner, elsewhere.id, Buffer.from('x'));
    await expectCode(post(owner, team.generalId, { text: '', file_ids: [file.id] }), 404, 'FILE_NOT_FOUND');
  });

  test('a file is claimed once', async () => {
    const file = await uploadFile(server.url, owner, team.generalId, Buffer.from('x'));
    expect((await post(owner, team.generalId, { text: 'first', file_ids: [file.id] })).status).toBe(201);
    await expectCode(post(owner, team.generalId, { text: 'second', file_ids: [file.id] }), 404, 'FILE_NOT_FOUND');
  });

  test('failed claim posts nothing', async () => {
    const mine = await uploadFile(server.url, owner, team.generalId, Buffer.from('x'));
    const before = await owner.api.get<{ messages: unknown[] }>(`/api/conversations/${team.generalId}/messages?limit=200`);
    await expectCode(post(owner, team.generalId, { text: 'two', file_ids: [mine.id, '00000000-0000-4000-8000-000000000000'] }), 404, 'FILE_NOT_FOUND');
    const after = await owner.api.get<{ messages: unknown[] }>(`/api/conversations/${team.generalId}/messages?limit=200`);
    expect(after.messages.length).toBe(before.messages.length);
    // The valid upload stays unattached and can still be posted.
    expect((await post(owner, team.generalId, { text: '', file_ids: [mine.id] })).status).toBe(201);
  });

  test('empty text without files is rejected', async () => {
    await expectCode(post(owner, team.generalId, { text: '' }), 400, 'MESSAGE_EMPTY');
  });

  test('too many files names the field', async () => {
    const ids = Array.from({ length: 11 }, (_unused, index) => `00000000-0000-4000-8000-0000000000${String(index).padStart(2, '0')}`);
    const response = await post(owner, team.generalId, { text: 'x', file_ids: ids });
    expect(response.status).toBe(400);
    expect(json<ErrorBody>(response).error.field).toBe('file_ids');
  });

  test('duplicate file ids name the field', async () => {
    const file = await uploadFile(server.url, owner, team.generalId, Buffer.from('x'));
    const response = await post(owner, team.generalId, { text: 'x', file_ids: [file.id, file.id] });
    expect(response.status).toBe(400);
    expect(json<ErrorBody>(response).error.field).toBe('file_ids');
  });
});
