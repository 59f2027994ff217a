import { createECDH, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { tusMetadata } from '../helpers/files.js';
import { startServer, type TestServer } from '../helpers/server.js';

/**
 * Every route the app serves, tried by every kind of actor. The rows below are
 * the table: one per route, with the expected status and error code for each
 * actor. A route the app registers without a row fails the coverage test, so a
 * new route needs a decision here. Objects an actor may not see must return the
 * same 404 body as a random id that exists nowhere, so ids cannot be probed.
 *
 * Requests go through app.inject against one shared data set. Rows whose
 * allowed cases change what they touch build fresh objects for each case.
 */

const ACTORS = ['anonymous', 'no team', 'other team', 'channel outsider', 'removed member', 'deactivated', 'member', 'admin', 'owner'] as const;
type Actor = (typeof ACTORS)[number];

/** A status, or a status and error code such as '404 MESSAGE_NOT_FOUND'. */
type Outcome = `${number}` | `${number} ${string}`;

interface Request {
  method: string;
  url: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Sent as is, for file bytes. */
  payload?: Buffer;
  /** A session token to send instead of the actor's own, such as a fresh session the case ends. */
  token?: string;
}

/** Ids of the objects a case works on: shared ones, or fresh ones from a row's setup. */
interface Ids {
  team: string;
  general: string;
  channel: string;
  message: string;
  file: string;
  upload: string;
  subscription: string;
  session: string;
  /** A user the route acts on, such as a member to remove. */
  user: string;
  /** A session token made for the case, for routes that end the caller's session. */
  token: string;
  /** A Slack API bot user, a webhook and its secret, and a Slack import run, made by a row's setup. */
  bot?: string;
  webhook?: string;
  secret?: string;
  importRun?: string;
}

interface World {
  users: Record<Actor, string>;
  ids: Ids;
  otherTeam: string;
}

interface Row {
  /** Method and URL pattern as Fastify registered them. */
  route: string;
  request: (ids: Ids, actor: Actor) => Request;
  expect: Record<Actor, Outcome>;
  /** Builds objects for one case, for rows whose allowed cases change or delete them. */
  fresh?: (actor: Actor) => Promise<Partial<Ids>>;
}

let server: TestServer;
let world: World;
/** Session tokens by actor; anonymous has none, and the deactivated actor's token was revoked. */
const tokens: Partial<Record<Actor, string>> = {};
const statuses: Array<{ route: string; actor: Actor; status: number }> = [];

async function inject(request: Request, token: string | undefined): Promise<{ status: number; body: unknown; code?: string }> {
  const headers: Record<string, string> = { ...request.headers };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const response = await server.server.app.inject({
    method: request.method as 'GET',
    url: request.url,
    headers,
    ...(request.payload !== undefined ? { payload: request.payload } : request.body !== undefined && { payload: request.body as object }),
  });
  let body: unknown = undefined;
  try {
    body = response.body === '' ? undefined : JSON.parse(response.body);
  } catch {
    body = response.body;
  }
  return { status: response.statusCode, body, code: (body as { error?: { code?: string } } | undefined)?.error?.code };
}

/** Sends a request as an actor; anonymous sends no token, and a deactivated actor its revoked one. */
function send(actor: Actor, request: Request) {
  return inject(request, request.token ?? tokens[actor]);
}

async function must<T>(actor: Actor | string, request: Request, token?: string): Promise<T> {
  const response = await inject(request, token ?? tokens[actor as Actor]);
  if (response.status >= 300) throw new Error(`${request.method} ${request.url} returned ${response.status} ${JSON.stringify(response.body)}`);
  return response.body as T;
}

const PASSWORD = 'correct horse battery';
/** Usernames by actor, for login. */
const usernames = {} as Record<Actor, string>;

async function register(name: string): Promise<{ id: string; token: string; session: string; username: string }> {
  const username = `${name.replace(/\W/g, '')}_${randomBytes(3).toString('hex')}`;
  const body = await must<{ user: { id: string }; token: string; session_id: string }>(
    'anonymous',
    {
      method: 'POST',
      url: '/api/auth/register',
      body: { email: `${username}@example.test`, username, password: PASSWORD, display_name: name },
    },
    '',
  );
  return { id: body.user.id, token: body.token, session: body.session_id, username };
}

/** Creates a browser's Web Push keys: an uncompressed P-256 point and a 16-byte secret. */
function pushKeys() {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') };
}

/**
 * Builds the shared data set. The owner registers first and is therefore the
 * server admin. The private channel contains the owner, the admin, the member and
 * (before they lost access) the removed and deactivated members. The channel
 * outsider is in the team but not in the private channel.
 */
async function buildWorld(): Promise<World> {
  const users = {} as Record<Actor, string>;
  // The owner registers first, which makes it the server admin.
  for (const actor of [...ACTORS].reverse()) {
    if (actor === 'anonymous') continue;
    const account = await register(actor);
    tokens[actor] = account.token;
    users[actor] = account.id;
    usernames[actor] = account.username;
  }
  users.anonymous = '';
  const asOwner = (request: Request) => must<Record<string, unknown>>('owner', request);

  const team = (await asOwner({ method: 'POST', url: '/api/teams', body: { name: 'Main' } })) as { id: string; general_conversation_id: string };
  for (const actor of ['channel outsider', 'removed member', 'deactivated', 'member', 'admin'] as const) {
    await asOwner({ method: 'POST', url: `/api/teams/${team.id}/members`, body: { user_id: users[actor], role: actor === 'admin' ? 'admin' : 'member' } });
  }
  const other = (await must<{ id: string }>('other team', { method: 'POST', url: '/api/teams', body: { name: 'Other' } })).id;

  const channel = (await asOwner({ method: 'POST', url: `/api/teams/${team.id}/channels`, body: { name: 'secret', private: true } })) as { id: string };
  await asOwner({
    method: 'POST',
    url: `/api/conversations/${channel.id}/members`,
    body: { user_ids: [users.admin, users.member, users['removed member'], users.deactivated] },
  });
  const message = (await asOwner({ method: 'POST', url: `/api/conversations/${channel.id}/messages`, body: { text: 'root' } })) as { id: string };
  await asOwner({ method: 'POST', url: `/api/conversations/${channel.id}/messages`, body: { text: 'reply', thread_root_id: message.id } });
  const file = (await asOwner({
    method: 'POST',
    url: `/api/conversations/${channel.id}/files?name=plan.txt`,
    headers: { 'content-type': 'text/plain' },
    payload: Buffer.from('plan'),
  })) as { id: string };
  // A file stays its uploader's until a message shares it.
  await asOwner({ method: 'POST', url: `/api/conversations/${channel.id}/messages`, body: { text: 'the plan', file_ids: [file.id] } });
  const upload = await server.server.app.inject({
    method: 'POST',
    url: '/api/uploads',
    headers: {
      authorization: `Bearer ${tokens.owner}`,
      'tus-resumable': '1.0.0',
      'upload-length': '10',
      'upload-metadata': tusMetadata({ conversation_id: channel.id, filename: 'draft.txt' }),
    },
  });
  const uploadId = String(upload.headers.location).split('/').pop() ?? '';
  const subscription = await asOwner({ method: 'POST', url: '/api/push/subscriptions', body: { endpoint: 'https://127.0.0.1/push/1', keys: pushKeys() } });
  const secondSession = await must<{ session_id: string }>('anonymous', { method: 'POST', url: '/api/auth/login', body: { login: usernames.owner, password: PASSWORD } }, '');

  await asOwner({ method: 'DELETE', url: `/api/teams/${team.id}/members/${users['removed member']}` });
  await asOwner({ method: 'POST', url: `/api/admin/users/${users.deactivated}/deactivate` });

  return {
    users,
    otherTeam: other,
    ids: {
      team: team.id,
      general: team.general_conversation_id,
      channel: channel.id,
      message: message.id,
      file: file.id,
      upload: uploadId,
      subscription: String(subscription.id),
      session: secondSession.session_id,
      user: users.admin,
      token: '',
    },
  };
}

beforeAll(async () => {
  server = await startServer({
    rateLimits: { postsPerUserPerMinute: 1_000_000, postsPerAddressPerMinute: 1_000_000, loginPerAddressPerMinute: 1_000_000, loginPerAccountPerMinute: 1_000_000 },
    push: { allowedAddresses: ['127.0.0.1'] },
    // An empty build folder: the web client then serves only / (503), so the route list does not depend on a build.
    webDir: fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-no-web-')),
  });
  world = await buildWorld();
});
afterAll(async () => server?.close());


// ---------------------------------------------------------------------------
// Expected outcomes.

const UNAUTHENTICATED: Outcome = '401 UNAUTHENTICATED';
const FORBIDDEN: Outcome = '403 FORBIDDEN';

/** Returns the same outcome for every actor, anonymous included, as for a public route. */
function open(outcome: Outcome): Record<Actor, Outcome> {
  return Object.fromEntries(ACTORS.map((actor) => [actor, outcome])) as Record<Actor, Outcome>;
}

/** Returns the outcomes of a route about the caller's own account, the same for every signed-in actor. */
function self(outcome: Outcome): Record<Actor, Outcome> {
  return { ...open(outcome), anonymous: UNAUTHENTICATED, deactivated: UNAUTHENTICATED };
}

interface Roles {
  /** Users outside the team: no team, another team and the removed member. */
  strangers: Outcome;
  /** The team member outside the private channel. */
  outsider: Outcome;
  member: Outcome;
  admin?: Outcome;
  owner?: Outcome;
}

/** Returns the outcomes of a route on a team or a private channel. Admin and owner get the member's outcome unless given. */
function scoped(roles: Roles): Record<Actor, Outcome> {
  return {
    anonymous: UNAUTHENTICATED,
    deactivated: UNAUTHENTICATED,
    'no team': roles.strangers,
    'other team': roles.strangers,
    'removed member': roles.strangers,
    'channel outsider': roles.outsider,
    member: roles.member,
    admin: roles.admin ?? roles.member,
    owner: roles.owner ?? roles.admin ?? roles.member,
  };
}

/** Returns the outcomes of a route on the private channel or an object in it, hidden from team members outside the channel too. */
function inChannel(hidden: string, member: Outcome, roles: { admin?: Outcome; owner?: Outcome } = {}): Record<Actor, Outcome> {
  const notFound = `404 ${hidden}` as Outcome;
  return scoped({ strangers: notFound, outsider: notFound, member, ...roles });
}

/** Returns the outcomes of a route on the team: every member may read it, and users outside it get TEAM_NOT_FOUND. */
function inTeam(member: Outcome, roles: { outsider?: Outcome; admin?: Outcome; owner?: Outcome } = {}): Record<Actor, Outcome> {
  return scoped({ strangers: '404 TEAM_NOT_FOUND', outsider: roles.outsider ?? member, member, ...roles });
}

/** Server-admin routes: the owner registered first and is the only server admin. */
function serverAdmin(ok: Outcome): Record<Actor, Outcome> {
  return { ...self(FORBIDDEN), owner: ok };
}

// ---------------------------------------------------------------------------
// Fresh objects for rows whose allowed cases change or delete what they touch.

let freshCount = 0;
/** Makes an empty export folder, which imports nothing and finishes at once. */
function emptyExport(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-empty-export-'));
}

async function freshBot(): Promise<Partial<Ids>> {
  const created = await must<{ bot: { id: string } }>('owner', post(`/api/teams/${world.ids.team}/bots`, { username: `bot${randomBytes(4).toString('hex')}`, display_name: 'Bot' }));
  return { bot: created.bot.id };
}

async function freshWebhook(): Promise<Partial<Ids>> {
  const created = await must<{ webhook: { id: string }; url: string }>('owner', post(`/api/teams/${world.ids.team}/webhooks`, { conversation_id: world.ids.general, name: 'Hook' }));
  return { webhook: created.webhook.id, secret: created.url.split('/').at(-1) };
}

/**
 * Runs an import of an empty export to its end. One import per team runs at a
 * time, so this also waits out an import that an earlier case started.
 */
async function freshImportRun(): Promise<Partial<Ids>> {
  const request = post(`/api/teams/${world.ids.team}/slack-imports`, { path: emptyExport() });
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const started = await send('owner', request);
    if (started.status === 409) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      continue;
    }
    const runId = (started.body as { id: string }).id;
    const runUrl = `/api/teams/${world.ids.team}/slack-imports/${runId}`;
    while ((await must<{ status: string }>('owner', get(runUrl))).status === 'running') await new Promise((resolve) => setTimeout(resolve, 50));
    return { importRun: runId };
  }
  throw new Error('a Slack import of the test team kept running');
}

async function freshMessage(): Promise<Partial<Ids>> {
  const message = await must<{ id: string }>('owner', { method: 'POST', url: `/api/conversations/${world.ids.channel}/messages`, body: { text: 'fresh' } });
  return { message: message.id };
}

/** Creates a private channel of the owner with the admin and the member in it. */
async function freshChannel(options: { archived?: boolean } = {}): Promise<Partial<Ids>> {
  freshCount += 1;
  const channel = await must<{ id: string }>('owner', {
    method: 'POST',
    url: `/api/teams/${world.ids.team}/channels`,
    body: { name: `fresh-${freshCount}`, private: true },
  });
  await must('owner', { method: 'POST', url: `/api/conversations/${channel.id}/members`, body: { user_ids: [world.users.admin, world.users.member] } });
  if (options.archived === true) await must('owner', { method: 'POST', url: `/api/conversations/${channel.id}/archive` });
  return { channel: channel.id };
}

/** Creates a team of the owner with the channel outsider, the member and the admin in it. */
async function freshTeam(): Promise<Partial<Ids>> {
  const team = await must<{ id: string }>('owner', { method: 'POST', url: '/api/teams', body: { name: 'Fresh' } });
  for (const actor of ['channel outsider', 'member', 'admin'] as const) {
    await must('owner', { method: 'POST', url: `/api/teams/${team.id}/members`, body: { user_id: world.users[actor], role: actor === 'admin' ? 'admin' : 'member' } });
  }
  return { team: team.id };
}

/** Registers a user in the main team, for routes that change or remove a member. */
async function freshTeammate(): Promise<Partial<Ids>> {
  const user = await register('teammate');
  await must('owner', { method: 'POST', url: `/api/teams/${world.ids.team}/members`, body: { user_id: user.id } });
  return { user: user.id };
}

/** Registers a user outside every team, for routes that add one. */
async function freshStranger(): Promise<Partial<Ids>> {
  return { user: (await register('stranger')).id };
}

/**
 * Registers an account of its own for each case of a route that ends the
 * caller's sessions, so the actors keep theirs. The cases of one route run at
 * once: with one shared account, one case's logout-all ended the next one's session.
 */
async function freshAccountSession(): Promise<Partial<Ids>> {
  return { token: (await register('spare')).token };
}

async function freshFile(): Promise<Partial<Ids>> {
  const file = await must<{ id: string }>('owner', {
    method: 'POST',
    url: `/api/conversations/${world.ids.channel}/files?name=fresh.txt`,
    headers: { 'content-type': 'text/plain' },
    payload: Buffer.from('fresh'),
  });
  await must('owner', { method: 'POST', url: `/api/conversations/${world.ids.channel}/messages`, body: { text: 'file', file_ids: [file.id] } });
  return { file: file.id };
}

async function freshUpload(): Promise<Partial<Ids>> {
  const upload = await server.server.app.inject({
    method: 'POST',
    url: '/api/uploads',
    headers: { authorization: `Bearer ${tokens.owner}`, ...tusCreateHeaders(world.ids.channel) },
  });
  return { upload: String(upload.headers.location).split('/').pop() ?? '' };
}

async function freshSession(): Promise<Partial<Ids>> {
  const login = await must<{ session_id: string }>('anonymous', { method: 'POST', url: '/api/auth/login', body: { login: usernames.owner, password: PASSWORD } }, '');
  return { session: login.session_id };
}

async function freshSubscription(): Promise<Partial<Ids>> {
  freshCount += 1;
  const subscription = await must<{ id: string }>('owner', {
    method: 'POST',
    url: '/api/push/subscriptions',
    body: { endpoint: `https://127.0.0.1/push/fresh-${freshCount}`, keys: pushKeys() },
  });
  return { subscription: subscription.id };
}

function tusCreateHeaders(conversationId: string): Record<string, string> {
  return {
    'tus-resumable': '1.0.0',
    'upload-length': '10',
    'upload-metadata': tusMetadata({ conversation_id: conversationId, filename: 'draft.txt' }),
  };
}

const TUS = { 'tus-resumable': '1.0.0' };

// ---------------------------------------------------------------------------
// The table: one row per route.

const get = (url: string): Request => ({ method: 'GET', url });
const post = (url: string, body: unknown = {}): Request => ({ method: 'POST', url, body });
const patch = (url: string, body: unknown): Request => ({ method: 'PATCH', url, body });
const del = (url: string): Request => ({ method: 'DELETE', url });

const ROWS: Row[] = [
  // Operations, documentation and the web client.
  { route: 'GET /healthz', request: () => get('/healthz'), expect: open('200') },
  { route: 'GET /readyz', request: () => get('/readyz'), expect: open('200') },
  // TODO: /metrics is public to anyone who reaches the port; operators must block it at the proxy.
  { route: 'GET /metrics', request: () => get('/metrics'), expect: open('200') },
  { route: 'GET /', request: () => get('/'), expect: open('503') },
  { route: 'GET /api/openapi.json', request: () => get('/api/openapi.json'), expect: open('200') },
  { route: 'GET /api/docs', request: () => get('/api/docs'), expect: open('200') },
  { route: 'HEAD /api/docs/', request: () => ({ method: 'HEAD', url: '/api/docs/' }), expect: open('200') },
  { route: 'GET /api/docs/static/index.html', request: () => get('/api/docs/static/index.html'), expect: open('302') },
  { route: 'GET /api/docs/static/swagger-initializer.js', request: () => get('/api/docs/static/swagger-initializer.js'), expect: open('200') },
  { route: 'GET /api/docs/static/*', request: () => get('/api/docs/static/swagger-ui.css'), expect: open('200') },
  { route: 'GET /api/docs/json', request: () => get('/api/docs/json'), expect: open('200') },
  { route: 'GET /api/docs/yaml', request: () => get('/api/docs/yaml'), expect: open('200') },

  // Accounts.
  {
    route: 'POST /api/auth/register',
    request: () => post('/api/auth/register', { email: `r${randomBytes(4).toString('hex')}@example.test`, username: `r${randomBytes(4).toString('hex')}`, password: PASSWORD, display_name: 'R' }),
    expect: open('201'),
  },
  {
    route: 'POST /api/auth/login',
    request: (_ids, actor) => post('/api/auth/login', { login: usernames[actor === 'anonymous' ? 'member' : actor], password: PASSWORD }),
    expect: { ...open('200'), deactivated: '403 ACCOUNT_DEACTIVATED' },
  },
  { route: 'POST /api/auth/login/2fa', request: () => post('/api/auth/login/2fa', { challenge: 'x'.repeat(43), code: '123456' }), expect: open('401 CHALLENGE_EXPIRED') },
  { route: 'POST /api/auth/logout', request: (ids) => ({ ...post('/api/auth/logout'), token: ids.token || undefined }), expect: self('204'), fresh: freshAccountSession },
  { route: 'POST /api/auth/logout-all', request: (ids) => ({ ...post('/api/auth/logout-all'), token: ids.token || undefined }), expect: self('204'), fresh: freshAccountSession },
  { route: 'GET /api/users/me', request: () => get('/api/users/me'), expect: self('200') },
  { route: 'PATCH /api/users/me', request: () => patch('/api/users/me', { status_text: 'busy' }), expect: self('200') },
  // A wrong current password: a successful change would revoke the actor's other sessions (tested in test/accounts).
  {
    route: 'POST /api/users/me/password',
    request: () => post('/api/users/me/password', { current_password: 'not the password', new_password: 'another long passphrase 42' }),
    expect: self('401 INVALID_CREDENTIALS'),
  },
  { route: 'GET /api/users/:userId', request: (ids) => get(`/api/users/${ids.user}`), expect: scoped({ strangers: '404 USER_NOT_FOUND', outsider: '200', member: '200' }) },
  { route: 'POST /api/realtime/ticket', request: () => post('/api/realtime/ticket'), expect: self('201') },
  { route: 'GET /api/users/me/security', request: () => get('/api/users/me/security'), expect: self('200') },
  { route: 'GET /api/users/me/sessions', request: () => get('/api/users/me/sessions'), expect: self('200') },
  {
    route: 'DELETE /api/users/me/sessions/:sessionId',
    request: (ids) => del(`/api/users/me/sessions/${ids.session}`),
    expect: { ...self('404 SESSION_NOT_FOUND'), owner: '204' },
    fresh: freshSession,
  },
  { route: 'POST /api/users/me/two-factor/setup', request: () => post('/api/users/me/two-factor/setup', { password: PASSWORD }), expect: self('200') },
  { route: 'POST /api/users/me/two-factor/enable', request: () => post('/api/users/me/two-factor/enable', { code: '000000' }), expect: self('401 INVALID_CREDENTIALS') },
  {
    route: 'POST /api/users/me/two-factor/disable',
    request: () => post('/api/users/me/two-factor/disable', { password: PASSWORD, code: '000000' }),
    expect: self('409 TWO_FACTOR_NOT_ENABLED'),
  },
  {
    route: 'POST /api/users/me/two-factor/recovery-codes',
    request: () => post('/api/users/me/two-factor/recovery-codes', { password: PASSWORD, code: '000000' }),
    expect: self('409 TWO_FACTOR_NOT_ENABLED'),
  },

  // Server administration and the audit log.
  { route: 'POST /api/admin/users/:userId/deactivate', request: () => post(`/api/admin/users/${world.users.deactivated}/deactivate`), expect: serverAdmin('204') },
  { route: 'POST /api/admin/users/:userId/reactivate', request: () => post(`/api/admin/users/${world.users['no team']}/reactivate`), expect: serverAdmin('204') },
  { route: 'GET /api/admin/audit-log', request: () => get('/api/admin/audit-log'), expect: serverAdmin('200') },
  { route: 'GET /api/teams/:teamId/audit-log', request: (ids) => get(`/api/teams/${ids.team}/audit-log`), expect: inTeam(FORBIDDEN, { owner: '200' }) },

  // Teams.
  { route: 'POST /api/teams', request: (ids) => ({ ...post('/api/teams', { name: 'New' }), token: ids.token || undefined }), expect: self('201'), fresh: freshAccountSession },
  { route: 'GET /api/teams', request: () => get('/api/teams'), expect: self('200') },
  { route: 'GET /api/teams/:teamId', request: (ids) => get(`/api/teams/${ids.team}`), expect: inTeam('200') },
  { route: 'GET /api/teams/:teamId/members', request: (ids) => get(`/api/teams/${ids.team}/members`), expect: inTeam('200') },
  {
    route: 'POST /api/teams/:teamId/members',
    request: (ids) => post(`/api/teams/${ids.team}/members`, { user_id: ids.user }),
    expect: inTeam(FORBIDDEN, { admin: '201', owner: '201' }),
    fresh: freshStranger,
  },
  {
    route: 'PATCH /api/teams/:teamId/members/:userId',
    request: (ids) => patch(`/api/teams/${ids.team}/members/${ids.user}`, { role: 'admin' }),
    expect: inTeam(FORBIDDEN, { admin: '204', owner: '204' }),
    fresh: freshTeammate,
  },
  {
    route: 'DELETE /api/teams/:teamId/members/:userId',
    request: (ids) => del(`/api/teams/${ids.team}/members/${ids.user}`),
    expect: inTeam(FORBIDDEN, { admin: '204', owner: '204' }),
    fresh: freshTeammate,
  },
  { route: 'POST /api/teams/:teamId/leave', request: (ids) => post(`/api/teams/${ids.team}/leave`), expect: inTeam('204', { owner: '409 LAST_OWNER' }), fresh: freshTeam },
  {
    route: 'POST /api/teams/:teamId/channels',
    request: (ids) => post(`/api/teams/${ids.team}/channels`, { name: `made-${randomBytes(3).toString('hex')}` }),
    expect: inTeam('201'),
  },
  { route: 'GET /api/teams/:teamId/channels', request: (ids) => get(`/api/teams/${ids.team}/channels`), expect: inTeam('200') },
  { route: 'POST /api/teams/:teamId/dms', request: (ids) => post(`/api/teams/${ids.team}/dms`, { user_ids: [world.users.admin] }), expect: inTeam('201') },
  { route: 'GET /api/teams/:teamId/settings', request: (ids) => get(`/api/teams/${ids.team}/settings`), expect: inTeam('200') },
  {
    route: 'PATCH /api/teams/:teamId/settings',
    request: (ids) => patch(`/api/teams/${ids.team}/settings`, { edit_window_seconds: 3600 }),
    expect: inTeam(FORBIDDEN, { admin: '200', owner: '200' }),
  },
  { route: 'GET /api/teams/:teamId/files', request: (ids) => get(`/api/teams/${ids.team}/files`), expect: inTeam('200') },
  { route: 'GET /api/teams/:teamId/search', request: (ids) => get(`/api/teams/${ids.team}/search?q=root`), expect: inTeam('200') },
  { route: 'GET /api/teams/:teamId/search/files', request: (ids) => get(`/api/teams/${ids.team}/search/files?q=plan`), expect: inTeam('200') },

  // Conversations.
  { route: 'GET /api/conversations', request: () => get('/api/conversations'), expect: self('200') },
  { route: 'GET /api/conversations/:conversationId', request: (ids) => get(`/api/conversations/${ids.channel}`), expect: inChannel('CONVERSATION_NOT_FOUND', '200') },
  {
    route: 'PATCH /api/conversations/:conversationId',
    request: (ids) => patch(`/api/conversations/${ids.channel}`, { topic: 'plans' }),
    expect: inChannel('CONVERSATION_NOT_FOUND', '200'),
  },
  {
    route: 'POST /api/conversations/:conversationId/archive',
    request: (ids) => post(`/api/conversations/${ids.channel}/archive`),
    expect: inChannel('CONVERSATION_NOT_FOUND', FORBIDDEN, { admin: '200', owner: '200' }),
    fresh: () => freshChannel(),
  },
  {
    route: 'POST /api/conversations/:conversationId/unarchive',
    request: (ids) => post(`/api/conversations/${ids.channel}/unarchive`),
    expect: inChannel('CONVERSATION_NOT_FOUND', FORBIDDEN, { admin: '200', owner: '200' }),
    fresh: () => freshChannel({ archived: true }),
  },
  { route: 'POST /api/conversations/:conversationId/join', request: (ids) => post(`/api/conversations/${ids.channel}/join`), expect: inChannel('CONVERSATION_NOT_FOUND', '200') },
  {
    route: 'POST /api/conversations/:conversationId/leave',
    request: (ids) => post(`/api/conversations/${ids.channel}/leave`),
    expect: inChannel('CONVERSATION_NOT_FOUND', '204'),
    fresh: () => freshChannel(),
  },
  { route: 'GET /api/conversations/:conversationId/members', request: (ids) => get(`/api/conversations/${ids.channel}/members`), expect: inChannel('CONVERSATION_NOT_FOUND', '200') },
  {
    route: 'POST /api/conversations/:conversationId/members',
    request: (ids) => post(`/api/conversations/${ids.channel}/members`, { user_ids: [world.users['channel outsider']] }),
    expect: inChannel('CONVERSATION_NOT_FOUND', '200'),
    fresh: () => freshChannel(),
  },
  {
    route: 'DELETE /api/conversations/:conversationId/members/:userId',
    request: (ids) => del(`/api/conversations/${ids.channel}/members/${world.users.admin}`),
    expect: inChannel('CONVERSATION_NOT_FOUND', FORBIDDEN, { admin: '204', owner: '204' }),
    fresh: () => freshChannel(),
  },
  {
    route: 'POST /api/conversations/:conversationId/messages',
    request: (ids) => post(`/api/conversations/${ids.channel}/messages`, { text: 'hello' }),
    expect: inChannel('CONVERSATION_NOT_FOUND', '201'),
  },
  { route: 'GET /api/conversations/:conversationId/messages', request: (ids) => get(`/api/conversations/${ids.channel}/messages`), expect: inChannel('CONVERSATION_NOT_FOUND', '200') },
  { route: 'POST /api/conversations/:conversationId/read', request: (ids) => post(`/api/conversations/${ids.channel}/read`), expect: inChannel('CONVERSATION_NOT_FOUND', '200') },
  { route: 'GET /api/conversations/:conversationId/pins', request: (ids) => get(`/api/conversations/${ids.channel}/pins`), expect: inChannel('CONVERSATION_NOT_FOUND', '200') },
  { route: 'GET /api/conversations/:conversationId/files', request: (ids) => get(`/api/conversations/${ids.channel}/files`), expect: inChannel('CONVERSATION_NOT_FOUND', '200') },
  {
    route: 'POST /api/conversations/:conversationId/files',
    request: (ids) => ({ method: 'POST', url: `/api/conversations/${ids.channel}/files?name=a.txt`, headers: { 'content-type': 'text/plain' }, payload: Buffer.from('a') }),
    expect: inChannel('CONVERSATION_NOT_FOUND', '201'),
  },
  {
    route: 'GET /api/conversations/:conversationId/notifications',
    request: (ids) => get(`/api/conversations/${ids.channel}/notifications`),
    expect: inChannel('CONVERSATION_NOT_FOUND', '200'),
  },
  {
    route: 'PUT /api/conversations/:conversationId/notifications',
    request: (ids) => ({ method: 'PUT', url: `/api/conversations/${ids.channel}/notifications`, body: { muted: false } }),
    expect: inChannel('CONVERSATION_NOT_FOUND', '200'),
  },

  // Messages and what hangs on them.
  { route: 'GET /api/messages/:messageId', request: (ids) => get(`/api/messages/${ids.message}`), expect: inChannel('MESSAGE_NOT_FOUND', '200') },
  {
    route: 'PATCH /api/messages/:messageId',
    request: (ids) => patch(`/api/messages/${ids.message}`, { text: 'root' }),
    expect: inChannel('MESSAGE_NOT_FOUND', FORBIDDEN, { owner: '200' }),
  },
  {
    route: 'DELETE /api/messages/:messageId',
    request: (ids) => del(`/api/messages/${ids.message}`),
    expect: inChannel('MESSAGE_NOT_FOUND', FORBIDDEN, { admin: '204', owner: '204' }),
    fresh: freshMessage,
  },
  { route: 'GET /api/messages/:messageId/thread', request: (ids) => get(`/api/messages/${ids.message}/thread`), expect: inChannel('MESSAGE_NOT_FOUND', '200') },
  { route: 'POST /api/messages/:messageId/thread/read', request: (ids) => post(`/api/messages/${ids.message}/thread/read`), expect: inChannel('MESSAGE_NOT_FOUND', '200') },
  { route: 'GET /api/messages/:messageId/versions', request: (ids) => get(`/api/messages/${ids.message}/versions`), expect: inChannel('MESSAGE_NOT_FOUND', '200') },
  { route: 'POST /api/messages/:messageId/reactions', request: (ids) => post(`/api/messages/${ids.message}/reactions`, { emoji: '👍' }), expect: inChannel('MESSAGE_NOT_FOUND', '201') },
  { route: 'DELETE /api/messages/:messageId/reactions/:emoji', request: (ids) => del(`/api/messages/${ids.message}/reactions/%F0%9F%91%8D`), expect: inChannel('MESSAGE_NOT_FOUND', '204') },
  { route: 'POST /api/messages/:messageId/follow', request: (ids) => post(`/api/messages/${ids.message}/follow`), expect: inChannel('MESSAGE_NOT_FOUND', '200') },
  { route: 'DELETE /api/messages/:messageId/follow', request: (ids) => del(`/api/messages/${ids.message}/follow`), expect: inChannel('MESSAGE_NOT_FOUND', '204') },
  { route: 'POST /api/messages/:messageId/pin', request: (ids) => post(`/api/messages/${ids.message}/pin`), expect: inChannel('MESSAGE_NOT_FOUND', '204') },
  { route: 'DELETE /api/messages/:messageId/pin', request: (ids) => del(`/api/messages/${ids.message}/pin`), expect: inChannel('MESSAGE_NOT_FOUND', '204') },
  { route: 'POST /api/messages/:messageId/save', request: (ids) => post(`/api/messages/${ids.message}/save`), expect: inChannel('MESSAGE_NOT_FOUND', '204') },
  { route: 'DELETE /api/messages/:messageId/save', request: (ids) => del(`/api/messages/${ids.message}/save`), expect: inChannel('MESSAGE_NOT_FOUND', '204') },

  // Lists of the caller's own.
  { route: 'GET /api/sidebar', request: () => get('/api/sidebar'), expect: self('200') },
  { route: 'GET /api/threads', request: () => get('/api/threads'), expect: self('200') },
  { route: 'GET /api/saved', request: () => get('/api/saved'), expect: self('200') },
  { route: 'GET /api/search', request: () => get('/api/search?q=root'), expect: self('200') },
  { route: 'GET /api/search/files', request: () => get('/api/search/files?q=plan'), expect: self('200') },

  // Files and uploads.
  { route: 'GET /api/files/:fileId', request: (ids) => get(`/api/files/${ids.file}`), expect: inChannel('FILE_NOT_FOUND', '200') },
  { route: 'GET /api/files/:fileId/content', request: (ids) => get(`/api/files/${ids.file}/content`), expect: inChannel('FILE_NOT_FOUND', '200') },
  { route: 'GET /api/files/:fileId/thumbnail', request: (ids) => get(`/api/files/${ids.file}/thumbnail`), expect: inChannel('FILE_NOT_FOUND', '404 FILE_NOT_FOUND') },
  { route: 'POST /api/files/:fileId/links', request: (ids) => post(`/api/files/${ids.file}/links`), expect: inChannel('FILE_NOT_FOUND', '200') },
  {
    route: 'DELETE /api/files/:fileId',
    request: (ids) => del(`/api/files/${ids.file}`),
    expect: inChannel('FILE_NOT_FOUND', FORBIDDEN, { admin: '204', owner: '204' }),
    fresh: freshFile,
  },
  {
    route: 'POST /api/uploads',
    request: (ids) => ({ method: 'POST', url: '/api/uploads', headers: tusCreateHeaders(ids.channel) }),
    expect: inChannel('CONVERSATION_NOT_FOUND', '201'),
  },
  { route: 'OPTIONS /api/uploads', request: () => ({ method: 'OPTIONS', url: '/api/uploads', headers: TUS }), expect: open('204') },
  {
    route: 'HEAD /api/uploads/:uploadId',
    request: (ids) => ({ method: 'HEAD', url: `/api/uploads/${ids.upload}`, headers: TUS }),
    expect: inChannel('UPLOAD_NOT_FOUND', '404', { owner: '200' }),
  },
  {
    route: 'PATCH /api/uploads/:uploadId',
    request: (ids) => ({
      method: 'PATCH',
      url: `/api/uploads/${ids.upload}`,
      headers: { ...TUS, 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' },
      payload: Buffer.from('0123'),
    }),
    expect: inChannel('UPLOAD_NOT_FOUND', '404 UPLOAD_NOT_FOUND', { owner: '204' }),
    fresh: freshUpload,
  },
  {
    route: 'DELETE /api/uploads/:uploadId',
    request: (ids) => ({ method: 'DELETE', url: `/api/uploads/${ids.upload}`, headers: TUS }),
    expect: inChannel('UPLOAD_NOT_FOUND', '404 UPLOAD_NOT_FOUND', { owner: '204' }),
    fresh: freshUpload,
  },

  // Presence, notifications and push.
  { route: 'GET /api/presence/me', request: () => get('/api/presence/me'), expect: self('200') },
  { route: 'PATCH /api/presence/me', request: () => patch('/api/presence/me', { manual_status: 'away' }), expect: self('200') },
  { route: 'GET /api/presence', request: () => get(`/api/presence?user_ids=${world.users.member}`), expect: self('200') },
  { route: 'GET /api/notifications/preferences', request: () => get('/api/notifications/preferences'), expect: self('200') },
  { route: 'PATCH /api/notifications/preferences', request: () => patch('/api/notifications/preferences', { level: 'all' }), expect: self('200') },
  { route: 'GET /api/notifications/badge', request: () => get('/api/notifications/badge'), expect: self('200') },
  { route: 'GET /api/push/vapid-public-key', request: () => get('/api/push/vapid-public-key'), expect: self('200') },
  {
    route: 'POST /api/push/subscriptions',
    request: () => post('/api/push/subscriptions', { endpoint: `https://127.0.0.1/push/${randomBytes(4).toString('hex')}`, keys: pushKeys() }),
    expect: self('201'),
  },
  { route: 'GET /api/push/subscriptions', request: () => get('/api/push/subscriptions'), expect: self('200') },
  {
    route: 'DELETE /api/push/subscriptions/:subscriptionId',
    request: (ids) => del(`/api/push/subscriptions/${ids.subscription}`),
    expect: { ...self('404 NOT_FOUND'), owner: '204' },
    fresh: freshSubscription,
  },

  // Slack compatibility: imports, bots, webhooks and the Web API.
  {
    route: 'POST /api/teams/:teamId/slack-imports',
    request: (ids) => post(`/api/teams/${ids.team}/slack-imports`, { path: emptyExport() }),
    expect: { ...inTeam(FORBIDDEN), owner: '202' },
    fresh: freshImportRun,
  },
  {
    route: 'GET /api/teams/:teamId/slack-imports/:importId',
    request: (ids) => get(`/api/teams/${ids.team}/slack-imports/${ids.importRun ?? randomUUID()}`),
    expect: { ...inTeam(FORBIDDEN), owner: '200' },
    fresh: freshImportRun,
  },
  {
    route: 'POST /api/teams/:teamId/slack-imports/zip',
    request: (ids) => ({ method: 'POST', url: `/api/teams/${ids.team}/slack-imports/zip`, headers: { 'content-type': 'application/zip' }, payload: Buffer.from('not a zip') }),
    expect: inTeam(FORBIDDEN, { owner: '202' }),
    fresh: freshImportRun,
  },
  {
    route: 'POST /api/teams/:teamId/bots',
    request: (ids) => post(`/api/teams/${ids.team}/bots`, { username: `bot${randomBytes(4).toString('hex')}`, display_name: 'Bot' }),
    expect: inTeam(FORBIDDEN, { admin: '201', owner: '201' }),
  },
  { route: 'GET /api/teams/:teamId/bots', request: (ids) => get(`/api/teams/${ids.team}/bots`), expect: inTeam(FORBIDDEN, { admin: '200', owner: '200' }) },
  {
    route: 'POST /api/teams/:teamId/bots/:botUserId/tokens',
    request: (ids) => post(`/api/teams/${ids.team}/bots/${ids.bot ?? randomUUID()}/tokens`),
    expect: inTeam(FORBIDDEN, { admin: '201', owner: '201' }),
    fresh: freshBot,
  },
  {
    route: 'DELETE /api/teams/:teamId/bots/:botUserId/tokens',
    request: (ids) => del(`/api/teams/${ids.team}/bots/${ids.bot ?? randomUUID()}/tokens`),
    expect: inTeam(FORBIDDEN, { admin: '200', owner: '200' }),
    fresh: freshBot,
  },
  {
    route: 'POST /api/teams/:teamId/webhooks',
    request: (ids) => post(`/api/teams/${ids.team}/webhooks`, { conversation_id: ids.general, name: 'Hook' }),
    expect: inTeam(FORBIDDEN, { admin: '201', owner: '201' }),
  },
  { route: 'GET /api/teams/:teamId/webhooks', request: (ids) => get(`/api/teams/${ids.team}/webhooks`), expect: inTeam(FORBIDDEN, { admin: '200', owner: '200' }) },
  {
    route: 'DELETE /api/teams/:teamId/webhooks/:webhookId',
    request: (ids) => del(`/api/teams/${ids.team}/webhooks/${ids.webhook ?? randomUUID()}`),
    expect: inTeam(FORBIDDEN, { admin: '204', owner: '204' }),
    fresh: freshWebhook,
  },
  // The secret in the URL authenticates a webhook post, so the sender's session does not matter.
  {
    route: 'POST /api/hooks/:webhookId/:secret',
    request: (ids) => post(`/api/hooks/${ids.webhook ?? randomUUID()}/${ids.secret ?? 'cbw_wrong'}`, { text: 'from a hook' }),
    expect: open('200'),
    fresh: freshWebhook,
  },
  // The Web API takes bot tokens only and rejects others in Slack's way, HTTP 200 with ok false; the upload URL rejects them with 401.
  { route: 'GET /api/slack/:method', request: () => get('/api/slack/auth.test'), expect: open('200') },
  { route: 'POST /api/slack/:method', request: () => post('/api/slack/auth.test'), expect: open('200') },
  { route: 'POST /api/slack/upload/:uploadId', request: () => ({ method: 'POST', url: `/api/slack/upload/${randomUUID()}`, payload: Buffer.from('bytes'), headers: { 'content-type': 'application/octet-stream' } }), expect: open('401') },
];

// ---------------------------------------------------------------------------
// The cases.

const ROW_BY_ROUTE = new Map(ROWS.map((row) => [row.route, row]));

/** Finds the row of a registered route. A HEAD route that Fastify adds for a GET route uses the GET row with HEAD. */
function rowOf(method: string, url: string): Row | undefined {
  const explicit = ROW_BY_ROUTE.get(`${method} ${url}`);
  if (explicit !== undefined || method !== 'HEAD') return explicit;
  const getRow = ROW_BY_ROUTE.get(`GET ${url}`);
  if (getRow === undefined) return undefined;
  return { ...getRow, route: `HEAD ${url}`, request: (ids, actor) => ({ ...getRow.request(ids, actor), method: 'HEAD' }) };
}

interface Case {
  row: Row;
  actor: Actor;
  expected: Outcome;
}

/** Builds one case per route and actor, once the route list is known. */
function buildCases(): Case[] {
  const cases: Case[] = [];
  for (const route of server.server.routes) {
    const row = rowOf(route.method, route.url);
    if (row === undefined) continue;
    for (const actor of ACTORS) cases.push({ row, actor, expected: row.expect[actor] });
  }
  return cases;
}

/** Returns ids that exist nowhere, so a hidden object's 404 can be compared with a missing one's. */
function missingIds(ids: Ids): Ids {
  return {
    ...ids,
    team: randomUUID(),
    general: randomUUID(),
    channel: randomUUID(),
    message: randomUUID(),
    file: randomUUID(),
    upload: randomUUID(),
    subscription: randomUUID(),
    session: randomUUID(),
    user: randomUUID(),
    bot: randomUUID(),
    webhook: randomUUID(),
    importRun: randomUUID(),
  };
}

async function runCase({ row, actor, expected }: Case): Promise<{ outcome: string; expected: Outcome; sameAsMissing: boolean }> {
  // Only an allowed case changes its object; denied cases use the shared ones, which a wrongly allowed case fails on anyway.
  const fresh = row.fresh !== undefined && expected.startsWith('2') ? await row.fresh(actor) : {};
  const ids = { ...world.ids, ...fresh };
  const request = row.request(ids, actor);
  const response = await send(actor, request);
  statuses.push({ route: row.route, actor, status: response.status });

  const isHead = request.method === 'HEAD';
  const outcome = isHead || response.code === undefined || !expected.includes(' ') ? String(response.status) : `${response.status} ${response.code}`;
  const expectedHere = (isHead ? expected.split(' ')[0] : expected) as Outcome;
  const mayRead = actor === 'member' || actor === 'admin' || actor === 'owner';
  if (response.status !== 404 || isHead || mayRead || !expected.endsWith('_NOT_FOUND')) return { outcome, expected: expectedHere, sameAsMissing: true };

  const missing = await send(actor, row.request(missingIds(ids), actor));
  return { outcome, expected: expectedHere, sameAsMissing: JSON.stringify(missing.body) === JSON.stringify(response.body) };
}

describe('route matrix', () => {
  test('every route has a row', () => {
    const missing = server.server.routes.filter((route) => rowOf(route.method, route.url) === undefined).map((route) => `${route.method} ${route.url}`);

    expect(server.server.routes.length).toBeGreaterThan(90);
    expect(missing).toEqual([]);
  });

  test('every row is a route', () => {
    const registered = new Set(server.server.routes.map((route) => `${route.method} ${route.url}`));
    const stale = ROWS.map((row) => row.route).filter((route) => !registered.has(route));

    expect(stale).toEqual([]);
  });

  test('all cases', { timeout: 120_000 }, async () => {
    const cases = buildCases();
    const failures: string[] = [];
    const timings = new Map<string, number>();

    // The actors of one route run at once: each allowed case has its own fresh object, and the denied ones change nothing.
    for (const route of new Set(cases.map((testCase) => testCase.row.route))) {
      const started = performance.now();
      const routeCases = cases.filter((testCase) => testCase.row.route === route);
      const results = await Promise.all(routeCases.map(runCase));
      timings.set(route, performance.now() - started);
      results.forEach((result, index) => {
        const { actor } = routeCases[index]!;
        if (result.outcome !== result.expected) failures.push(`${route} as ${actor}: ${result.outcome}, expected ${result.expected}`);
        if (!result.sameAsMissing) failures.push(`${route} as ${actor}: 404 differs from a missing id's`);
      });
    }

    if (process.env.MATRIX_TIMINGS !== undefined) console.log(cases.length, [...timings].sort((a, b) => b[1] - a[1]).slice(0, 10));
    expect(cases.length).toBeGreaterThanOrEqual(500);
    expect(failures).toEqual([]);
  });

  test('no response is 5xx', () => {
    const errors = statuses.filter((entry) => entry.status >= 500 && entry.route !== 'GET /' && entry.route !== 'HEAD /');

    expect(statuses.length).toBeGreaterThanOrEqual(500);
    expect(errors).toEqual([]);
  });
});
