import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RawResponse } from '../../src/client/api.js';
import { buildChannel, buildTeam, buildUser, type TestUser } from '../helpers/factories.js';
import { startServer, type TestServer } from '../helpers/server.js';

/**
 * Every actor tries every action on every object it must not use. For an object
 * the actor may not see, the response must equal the 404 for a random nonexistent
 * id, so ids cannot be probed. An object the actor can see but may not change
 * returns 403, or 400 where the action does not apply to it. A logged-out session
 * gets 401 everywhere.
 */

const ACTORS = [
  'non-member of team',
  'member of another team',
  'removed team member',
  'removed channel member',
  'plain member',
  'logged-out session',
] as const;
type Actor = (typeof ACTORS)[number];

const OBJECTS = ['private channel', 'DM', 'group DM', 'public channel of another team', 'message in private channel'] as const;
type ObjectName = (typeof OBJECTS)[number];

const CONVERSATION_ACTIONS = [
  'read conversation',
  'list members',
  'read history',
  'post',
  'invite',
  'remove member',
  'rename',
  'set topic',
  'archive',
  'unarchive',
  'join',
  'leave',
] as const;
const MESSAGE_ACTIONS = ['read message', 'read thread', 'edit', 'delete'] as const;
type Action = (typeof CONVERSATION_ACTIONS)[number] | (typeof MESSAGE_ACTIONS)[number];

/** Ids an action works on: a conversation, a thread root in it, a teammate to invite and a member to remove. */
interface Target {
  conversationId: string;
  messageId: string;
  inviteeId: string;
  removeeId: string;
}

interface Request {
  method: string;
  path: string;
  body?: unknown;
  /** Sent as is with Content-Type: application/json, for bodies JSON.stringify cannot produce. */
  raw?: string;
}

const REQUESTS: Record<Action, (target: Target) => Request> = {
  'read conversation': (target) => ({ method: 'GET', path: `/api/conversations/${target.conversationId}` }),
  'list members': (target) => ({ method: 'GET', path: `/api/conversations/${target.conversationId}/members` }),
  'read history': (target) => ({ method: 'GET', path: `/api/conversations/${target.conversationId}/messages` }),
  'read message': (target) => ({ method: 'GET', path: `/api/messages/${target.messageId}` }),
  'read thread': (target) => ({ method: 'GET', path: `/api/messages/${target.messageId}/thread` }),
  post: (target) => ({ method: 'POST', path: `/api/conversations/${target.conversationId}/messages`, body: { text: 'should not land' } }),
  edit: (target) => ({ method: 'PATCH', path: `/api/messages/${target.messageId}`, body: { text: 'should not change' } }),
  delete: (target) => ({ method: 'DELETE', path: `/api/messages/${target.messageId}` }),
  invite: (target) => ({ method: 'POST', path: `/api/conversations/${target.conversationId}/members`, body: { user_ids: [target.inviteeId] } }),
  'remove member': (target) => ({ method: 'DELETE', path: `/api/conversations/${target.conversationId}/members/${target.removeeId}` }),
  rename: (target) => ({ method: 'PATCH', path: `/api/conversations/${target.conversationId}`, body: { name: 'renamed-by-attacker' } }),
  'set topic': (target) => ({ method: 'PATCH', path: `/api/conversations/${target.conversationId}`, body: { topic: 'set by attacker' } }),
  archive: (target) => ({ method: 'POST', path: `/api/conversations/${target.conversationId}/archive` }),
  unarchive: (target) => ({ method: 'POST', path: `/api/conversations/${target.conversationId}/unarchive` }),
  join: (target) => ({ method: 'POST', path: `/api/conversations/${target.conversationId}/join` }),
  leave: (target) => ({ method: 'POST', path: `/api/conversations/${target.conversationId}/leave` }),
};

type Expectation = { kind: 'hidden' } | { kind: 'denied'; status: number; code: string; field?: string };

const HIDDEN: Expectation = { kind: 'hidden' };
const FORBIDDEN: Expectation = { kind: 'denied', status: 403, code: 'FORBIDDEN' };
const UNAUTHENTICATED: Expectation = { kind: 'denied', status: 401, code: 'UNAUTHENTICATED' };

/**
 * What the plain member may not do in the conversations they belong to: the
 * private channel and the group DM were made by the owner, and so were the
 * messages there. An action missing here is allowed, so the matrix skips it.
 */
const PLAIN_MEMBER_DENIALS: Partial<Record<ObjectName, Partial<Record<Action, Expectation>>>> = {
  'private channel': {
    edit: FORBIDDEN,
    delete: FORBIDDEN,
    'remove member': FORBIDDEN,
    rename: FORBIDDEN,
    archive: FORBIDDEN,
    unarchive: FORBIDDEN,
  },
  'group DM': {
    edit: FORBIDDEN,
    delete: FORBIDDEN,
    invite: FORBIDDEN,
    'remove member': FORBIDDEN,
    rename: { kind: 'denied', status: 400, code: 'VALIDATION_FAILED', field: 'name' },
    archive: FORBIDDEN,
    unarchive: FORBIDDEN,
    leave: FORBIDDEN,
  },
  'message in private channel': { edit: FORBIDDEN, delete: FORBIDDEN },
};

function actionsOf(object: ObjectName): readonly Action[] {
  return object === 'message in private channel' ? MESSAGE_ACTIONS : [...CONVERSATION_ACTIONS, ...MESSAGE_ACTIONS];
}

/** Returns the expected denial, or undefined where the actor is allowed the action. */
function expectationFor(actor: Actor, object: ObjectName, action: Action): Expectation | undefined {
  if (actor === 'logged-out session') return UNAUTHENTICATED;
  if (actor !== 'plain member') return HIDDEN;
  if (object === 'DM' || object === 'public channel of another team') return HIDDEN;
  return PLAIN_MEMBER_DENIALS[object]?.[action];
}

const CASES = ACTORS.flatMap((actor) =>
  OBJECTS.flatMap((object) =>
    actionsOf(object).flatMap((action) => {
      const expected = expectationFor(actor, object, action);
      return expected === undefined ? [] : [{ actor, object, action, expected }];
    }),
  ),
);

interface World {
  actors: Record<Actor, TestUser>;
  targets: Record<ObjectName, Target>;
  /** Owner of the main team, creator of its private channel and group DM. */
  owner: TestUser;
  /** Owner of the other team, whose public channel the other actors try. */
  otherOwner: TestUser;
  /** The main team's #general, which the plain member belongs to. */
  generalId: string;
  /** Teammate of the owner invited in every invite request. */
  inviteeId: string;
  /** Owner of the main team, whom every remove-member request targets. */
  removeeId: string;
}

let server: TestServer;
let world: World;
const statuses: Array<{ request: string; status: number }> = [];

/** Sends a request as the actor and records its status for the 5xx check. */
async function send(user: TestUser, request: Request): Promise<RawResponse> {
  const response =
    request.raw === undefined
      ? await user.api.raw(request.method, request.path, request.body)
      : await user.api.raw(request.method, request.path, request.raw, { 'content-type': 'application/json' });
  statuses.push({ request: `${request.method} ${request.path}`, status: response.status });
  return response;
}

/** Posts a thread root and one reply, returning the root's id. */
async function postThread(author: TestUser, conversationId: string): Promise<string> {
  const root = await author.api.post<{ id: string }>(`/api/conversations/${conversationId}/messages`, { text: 'root message' });
  await author.api.post(`/api/conversations/${conversationId}/messages`, { text: 'reply', thread_root_id: root.id });
  return root.id;
}

/**
 * Builds one world shared by every case. The matrix sends only requests that must
 * be denied, so no case changes the state another case reads. A case that wrongly
 * succeeds fails, and may then disturb later cases.
 */
async function buildWorld(): Promise<World> {
  const owner = await buildUser(server.url, 'owner');
  const partner = await buildUser(server.url, 'partner');
  const plain = await buildUser(server.url, 'plain');
  const removedFromTeam = await buildUser(server.url, 'goneteam');
  const removedFromChannel = await buildUser(server.url, 'gonechan');
  const nonMember = await buildUser(server.url, 'nonmember');
  const otherTeamMember = await buildUser(server.url, 'otherteam');
  const loggedOut = await buildUser(server.url, 'loggedout');
  const otherOwner = await buildUser(server.url, 'otherowner');

  const team = await buildTeam(owner, [partner, plain, removedFromTeam, removedFromChannel, loggedOut], 'Main');
  await buildTeam(otherTeamMember, [], 'Elsewhere');
  const otherTeam = await buildTeam(otherOwner, [], 'Other');

  const privateChannel = await buildChannel(owner, team.id, {
    name: 'secret-plans',
    private: true,
    members: [plain, removedFromTeam, removedFromChannel, loggedOut],
  });
  const dm = await owner.api.post<{ id: string }>(`/api/teams/${team.id}/dms`, { user_ids: [removedFromTeam.id] });
  const group = await owner.api.post<{ id: string }>(`/api/teams/${team.id}/dms`, {
    user_ids: [partner.id, plain.id, removedFromTeam.id],
  });
  const otherPublic = await buildChannel(otherOwner, otherTeam.id, { name: 'open-to-team' });

  const privateRoot = await postThread(owner, privateChannel.id);
  const dmRoot = await postThread(owner, dm.id);
  const groupRoot = await postThread(owner, group.id);
  const otherRoot = await postThread(otherOwner, otherPublic.id);
  const removedAuthorMessage = await removedFromTeam.api.post<{ id: string }>(`/api/conversations/${privateChannel.id}/messages`, {
    text: 'written before removal',
  });

  await owner.api.delete(`/api/conversations/${privateChannel.id}/members/${removedFromChannel.id}`);
  await owner.api.delete(`/api/teams/${team.id}/members/${removedFromTeam.id}`);
  await loggedOut.api.post('/api/auth/logout');

  const inviteeId = partner.id;
  const removeeId = owner.id;
  return {
    actors: {
      'non-member of team': nonMember,
      'member of another team': otherTeamMember,
      'removed team member': removedFromTeam,
      'removed channel member': removedFromChannel,
      'plain member': plain,
      'logged-out session': loggedOut,
    },
    targets: {
      'private channel': { conversationId: privateChannel.id, messageId: privateRoot, inviteeId, removeeId },
      DM: { conversationId: dm.id, messageId: dmRoot, inviteeId, removeeId },
      'group DM': { conversationId: group.id, messageId: groupRoot, inviteeId, removeeId },
      'public channel of another team': { conversationId: otherPublic.id, messageId: otherRoot, inviteeId, removeeId: otherOwner.id },
      'message in private channel': { conversationId: privateChannel.id, messageId: removedAuthorMessage.id, inviteeId, removeeId },
    },
    owner,
    otherOwner,
    generalId: team.generalId,
    inviteeId,
    removeeId,
  };
}

beforeAll(async () => {
  server = await startServer();
  world = await buildWorld();
});
afterAll(async () => server.close());

const referenceBodies = new Map<string, RawResponse>();

/** Sends the action on random ids that exist nowhere and returns the response, cached per actor and action. */
async function nonexistentResponse(actor: Actor, action: Action): Promise<RawResponse> {
  const key = `${actor}|${action}`;
  const cached = referenceBodies.get(key);
  if (cached !== undefined) return cached;

  const target = { conversationId: randomUUID(), messageId: randomUUID(), inviteeId: world.inviteeId, removeeId: world.removeeId };
  const response = await send(world.actors[actor], REQUESTS[action](target));
  referenceBodies.set(key, response);
  return response;
}

function errorOf(response: RawResponse): { code?: string; message?: string; field?: string } {
  return (response.body as { error?: { code?: string; message?: string; field?: string } } | undefined)?.error ?? {};
}

describe('controls', () => {
  test('owners read every object', async () => {
    for (const object of OBJECTS) {
      const target = world.targets[object];
      const reader = object === 'public channel of another team' ? world.otherOwner : world.owner;

      const conversation = await send(reader, REQUESTS['read conversation'](target));
      const message = await send(reader, REQUESTS['read message'](target));

      expect({ object, status: conversation.status }).toEqual({ object, status: 200 });
      expect({ object, status: message.status }).toEqual({ object, status: 200 });
    }
  });

  test('plain member reads own conversations', async () => {
    const plain = world.actors['plain member'];

    for (const object of ['private channel', 'group DM', 'message in private channel'] as const) {
      const response = await send(plain, REQUESTS['read thread'](world.targets[object]));
      expect({ object, status: response.status }).toEqual({ object, status: 200 });
    }
  });

  test('removed channel member still in team', async () => {
    const actor = world.actors['removed channel member'];

    const general = await send(actor, { method: 'GET', path: `/api/conversations/${world.generalId}/messages` });

    expect(general.status).toBe(200);
  });
});

describe('permission matrix', () => {
  test('matrix covers every actor', () => {
    const actorsWithCases = new Set(CASES.map((testCase) => testCase.actor));

    expect([...actorsWithCases]).toEqual([...ACTORS]);
    expect(CASES.length).toBeGreaterThan(350);
  });

  test.each(CASES)('$actor $action $object', async ({ actor, object, action, expected }) => {
    const response = await send(world.actors[actor], REQUESTS[action](world.targets[object]));

    expect(response.status).toBeLessThan(500);
    if (expected.kind === 'denied') {
      expect(response.status).toBe(expected.status);
      expect(errorOf(response).code).toBe(expected.code);
      if (expected.field !== undefined) expect(errorOf(response).field).toBe(expected.field);
      return;
    }
    const reference = await nonexistentResponse(actor, action);
    expect(reference.status).toBe(404);
    expect(response.status).toBe(404);
    expect(errorOf(response)).toEqual(errorOf(reference));
  });
});

describe('state after denials', () => {
  test('private channel unchanged', async () => {
    const owner = world.owner;
    const target = world.targets['private channel'];

    const channel = await owner.api.get<{ name: string; archived: boolean }>(`/api/conversations/${target.conversationId}`);
    const { user_ids: memberIds } = await owner.api.get<{ user_ids: string[] }>(`/api/conversations/${target.conversationId}/members`);
    const history = await owner.api.get<{ messages: Array<{ text: string; deleted: boolean }> }>(
      `/api/conversations/${target.conversationId}/messages`,
    );

    expect(channel.name).toBe('secret-plans');
    expect(channel.archived).toBe(false);
    expect(memberIds).toContain(world.owner.id);
    expect(memberIds).not.toContain(world.inviteeId);
    expect(memberIds).not.toContain(world.actors['removed channel member'].id);
    expect(history.messages.map((message) => message.text)).toEqual(['root message', 'written before removal']);
  });

  test('group DM unchanged', async () => {
    const target = world.targets['group DM'];

    const group = await world.owner.api.get<{ topic: string; archived: boolean; member_ids: string[] }>(
      `/api/conversations/${target.conversationId}`,
    );

    expect(group.topic).toBe('');
    expect(group.archived).toBe(false);
    expect(group.member_ids).toHaveLength(4);
    expect(group.member_ids).not.toContain(world.actors['non-member of team'].id);
  });
});

describe('leaks through references', () => {
  test('history around hidden message', async () => {
    const plain = world.actors['plain member'];
    const general = world.generalId;
    const hiddenMessage = world.targets.DM.messageId;

    const hidden = await send(plain, { method: 'GET', path: `/api/conversations/${general}/messages?around=${hiddenMessage}` });
    const missing = await send(plain, { method: 'GET', path: `/api/conversations/${general}/messages?around=${randomUUID()}` });

    expect(hidden.status).toBe(404);
    expect(errorOf(hidden)).toEqual(errorOf(missing));
  });

  test('reply to hidden thread root', async () => {
    const plain = world.actors['plain member'];
    const general = world.generalId;
    const hiddenRoot = world.targets.DM.messageId;

    const hidden = await send(plain, {
      method: 'POST',
      path: `/api/conversations/${general}/messages`,
      body: { text: 'reply', thread_root_id: hiddenRoot },
    });
    const missing = await send(plain, {
      method: 'POST',
      path: `/api/conversations/${general}/messages`,
      body: { text: 'reply', thread_root_id: randomUUID() },
    });

    expect(hidden.status).toBe(404);
    expect(errorOf(hidden)).toEqual(errorOf(missing));
  });

  test('removed member lists nothing of team', async () => {
    const removed = world.actors['removed team member'];

    const response = await send(removed, { method: 'GET', path: '/api/conversations' });

    expect(response.status).toBe(200);
    expect((response.body as { conversations: unknown[] }).conversations).toEqual([]);
  });
});

describe('malformed input', () => {
  const nested = `{"text": ${'['.repeat(5000)}${']'.repeat(5000)}}`;

  interface MalformedCase {
    name: string;
    method: string;
    /** Path under the plain member's own private channel (`{c}`) or its thread root (`{m}`). */
    path: string;
    body?: unknown;
    raw?: string;
    status: number;
    code: string;
  }

  const history = '/api/conversations/{c}/messages';
  const MALFORMED: MalformedCase[] = [
    { name: 'history limit zero', method: 'GET', path: `${history}?limit=0`, status: 400, code: 'VALIDATION_FAILED' },
    { name: 'history limit text', method: 'GET', path: `${history}?limit=ten`, status: 400, code: 'VALIDATION_FAILED' },
    { name: 'history two cursors', method: 'GET', path: `${history}?before=5&after=1`, status: 400, code: 'INVALID_CURSOR' },
    { name: 'history around not an id', method: 'GET', path: `${history}?around=..%2F..`, status: 400, code: 'VALIDATION_FAILED' },
    { name: 'history unknown parameter', method: 'GET', path: `${history}?order=desc`, status: 400, code: 'VALIDATION_FAILED' },
    { name: 'thread limit too high', method: 'GET', path: '/api/messages/{m}/thread?limit=100000', status: 400, code: 'VALIDATION_FAILED' },
    { name: 'conversation id traversal', method: 'GET', path: '/api/conversations/..%2F..%2Fapi%2Fteams', status: 400, code: 'VALIDATION_FAILED' },
    { name: 'post blank text', method: 'POST', path: history, body: { text: ' \n\t ' }, status: 400, code: 'MESSAGE_EMPTY' },
    { name: 'post null text', method: 'POST', path: history, body: { text: null }, status: 400, code: 'VALIDATION_FAILED' },
    { name: 'post NUL in text', method: 'POST', path: history, body: { text: 'a\u0000b' }, status: 400, code: 'VALIDATION_FAILED' },
    { name: 'post lone surrogate', method: 'POST', path: history, raw: '{"text": "\\ud800"}', status: 400, code: 'VALIDATION_FAILED' },
    { name: 'post array body', method: 'POST', path: history, body: [], status: 400, code: 'VALIDATION_FAILED' },
    { name: 'post string body', method: 'POST', path: history, raw: '"hello"', status: 400, code: 'VALIDATION_FAILED' },
    { name: 'post deeply nested body', method: 'POST', path: history, raw: nested, status: 400, code: 'VALIDATION_FAILED' },
    {
      name: 'post prototype key',
      method: 'POST',
      path: history,
      raw: '{"text": "hi", "__proto__": {"admin": true}}',
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'post bad client id',
      method: 'POST',
      path: history,
      body: { text: 'hi', client_msg_id: 'has space' },
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'post unknown thread root',
      method: 'POST',
      path: history,
      body: { text: 'hi', thread_root_id: randomUUID() },
      status: 404,
      code: 'MESSAGE_NOT_FOUND',
    },
    { name: 'edit text too long', method: 'PATCH', path: '/api/messages/{m}', body: { text: 'x'.repeat(40_001) }, status: 400, code: 'MESSAGE_TOO_LONG' },
    { name: 'invite empty list', method: 'POST', path: '/api/conversations/{c}/members', body: { user_ids: [] }, status: 400, code: 'VALIDATION_FAILED' },
    { name: 'join with empty JSON body', method: 'POST', path: '/api/conversations/{c}/join', raw: '', status: 400, code: 'INVALID_JSON' },
  ];

  test.each(MALFORMED)('$name', async ({ method, path, body, raw, status, code }) => {
    const plain = world.actors['plain member'];
    const target = world.targets['private channel'];
    const resolved = path.replace('{c}', target.conversationId).replace('{m}', target.messageId);

    const response = await send(plain, { method, path: resolved, body, raw });

    expect(response.status).toBe(status);
    expect(errorOf(response).code).toBe(code);
  });
});

test('no response is 5xx', () => {
  const failures = statuses.filter((entry) => entry.status >= 500);

  expect(statuses.length).toBeGreaterThan(0);
  expect(failures).toEqual([]);
});
