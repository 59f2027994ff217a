import { emailKey, findUserById, usernameKey } from '../../accounts/queries.js';
import { addConversationMember } from '../../conversations/membership.js';
import { findConversation } from '../../conversations/queries.js';
import { commitWithEvents } from '../../platform/context.js';
import { newId } from '../../platform/ids.js';
import type { Tx } from '../../storage/database.js';
import type { UserRow } from '../../storage/schema.js';
import { addTeamMembership } from '../../teams/actions.js';
import { findTeamMember } from '../../teams/queries.js';
import type { SlackUser } from './export-types.js';
import { insertMappedId, loadIdMap } from './queries.js';
import type { ImportState, MappedUser } from './state.js';

const MAX_USERNAME_CHARS = 32;
/** Slack's own bot, which posts reminders and automatic replies. Exports omit it from users.json. */
export const SLACKBOT_ID = 'USLACKBOT';

/**
 * Imports users.json: each Slack user becomes the account with the same
 * e-mail address, or a new account without a usable password, and a member
 * of the team and its #general channel. Users mapped by an earlier run are
 * only loaded.
 */
export async function importUsers(state: ImportState, users: SlackUser[]): Promise<void> {
  const mapped = await loadIdMap(state.ctx.storage.db, state.team.id, 'user');
  const mappedBots = await loadIdMap(state.ctx.storage.db, state.team.id, 'bot');
  for (const [slackId, localId] of mappedBots) await remember(state, state.bots, slackId, localId);

  for (const user of users) {
    if (typeof user?.id !== 'string') continue;
    const localId = mapped.get(user.id);
    if (localId !== undefined) {
      state.report.counts.users.existing += 1;
      await remember(state, state.users, user.id, localId);
      continue;
    }
    const account = await importUser(state, user);
    state.users.set(user.id, account);
    state.usernames.set(usernameKey(account.username), account.id);
    const botId = user.profile?.bot_id;
    if (user.is_bot && botId !== undefined) state.bots.set(botId, account);
  }
}

async function remember(state: ImportState, map: Map<string, MappedUser>, slackId: string, localId: string): Promise<void> {
  const row = await findUserById(state.ctx.storage.db, localId);
  if (row === undefined) return;
  map.set(slackId, { id: row.id, username: row.username });
  state.usernames.set(row.username_key, row.id);
}

/** Matches or creates one user's account and maps it, in one transaction. */
async function importUser(state: ImportState, user: SlackUser): Promise<MappedUser> {
  const email = user.profile?.email?.trim() || placeholderEmail(state, user.id);
  const isBot = user.is_bot === true || user.is_app_user === true || user.id === SLACKBOT_ID;
  const { row, created } = await commitWithEvents(state.ctx, async (tx, events, now) => {
    const existing = await tx.selectFrom('users').selectAll().where('email_key', '=', emailKey(email)).executeTakeFirst();
    const row = existing ?? (await createAccount(state, tx, { slackName: user.name ?? user.id, displayName: displayNameOf(user), email, isBot, deleted: user.deleted === true, now }));
    await joinTeam(state, tx, events, row.id, now);
    await insertMappedId(tx, { team_id: state.team.id, kind: 'user', slack_id: user.id, local_id: row.id });
    return { row, created: existing === undefined };
  });

  state.report.counts.users[created ? 'imported' : 'merged'] += 1;
  if (created) state.report.created_accounts.push({ user_id: row.id, username: row.username, email: row.email, slack_id: user.id, is_bot: isBot });
  return { id: row.id, username: row.username };
}

/**
 * Returns the bot account of a bot message, creating it on first use: the
 * bot's users.json entry when it has one, else an account named after the bot.
 */
export async function findOrCreateBot(state: ImportState, botKey: string, name: string): Promise<MappedUser> {
  const known = state.bots.get(botKey);
  if (known !== undefined) return known;

  const email = placeholderEmail(state, `bot-${botKey}`);
  const row = await commitWithEvents(state.ctx, async (tx, events, now) => {
    const existing = await tx.selectFrom('users').selectAll().where('email_key', '=', emailKey(email)).executeTakeFirst();
    const row = existing ?? (await createAccount(state, tx, { slackName: name, displayName: name, email, isBot: true, deleted: false, now }));
    await joinTeam(state, tx, events, row.id, now);
    await insertMappedId(tx, { team_id: state.team.id, kind: 'bot', slack_id: botKey, local_id: row.id });
    return row;
  });
  state.report.counts.bots.imported += 1;
  state.report.created_accounts.push({ user_id: row.id, username: row.username, email: row.email, slack_id: botKey, is_bot: true });
  const account = { id: row.id, username: row.username };
  state.bots.set(botKey, account);
  state.usernames.set(row.username_key, row.id);
  return account;
}

/** Builds an address that no mail server accepts (.invalid, RFC 2606), the same on every run so reruns find the account. */
function placeholderEmail(state: ImportState, slackId: string): string {
  return `slack-${slackId.toLowerCase()}@${state.team.id}.invalid`;
}

function displayNameOf(user: SlackUser): string {
  const name = user.profile?.display_name || user.real_name || user.profile?.real_name || user.name || user.id;
  return name.trim().slice(0, 64) || user.id;
}

interface NewAccount {
  slackName: string;
  displayName: string;
  email: string;
  isBot: boolean;
  deleted: boolean;
  now: number;
}

async function createAccount(state: ImportState, tx: Tx, input: NewAccount): Promise<UserRow> {
  const row: UserRow = {
    id: newId(),
    email: input.email,
    email_key: emailKey(input.email),
    username: await freeUsername(tx, input.slackName),
    username_key: '',
    display_name: input.displayName,
    password_hash: state.unusableHash,
    status_text: '',
    time_zone: 'UTC',
    created_at: input.now,
    updated_at: input.now,
    // Slack's deactivated members stay deactivated, so they keep their history but cannot be added anywhere.
    deactivated_at: input.deleted ? input.now : null,
    is_bot: input.isBot ? 1 : 0,
  };
  row.username_key = usernameKey(row.username);
  await tx.insertInto('users').values(row).execute();
  return row;
}

/** Turns a Slack name into a valid free username: invalid characters become "_", and a taken name gets a number. */
async function freeUsername(tx: Tx, slackName: string): Promise<string> {
  let base = slackName.normalize('NFKC').replace(/[^\p{L}\p{N}._-]/gu, '_').replace(/^[._-]+/, '');
  base = [...base].slice(0, MAX_USERNAME_CHARS - 4).join('');
  if ([...base].length < 2) base = `user_${base}`;
  for (let attempt = 1; ; attempt += 1) {
    const candidate = attempt === 1 ? base : `${base}-${attempt}`;
    const taken = await tx.selectFrom('users').select('id').where('username_key', '=', usernameKey(candidate)).executeTakeFirst();
    if (taken === undefined) return candidate;
  }
}

async function joinTeam(state: ImportState, tx: Tx, events: Parameters<typeof addTeamMembership>[1], userId: string, now: number): Promise<void> {
  if (await findTeamMember(tx, state.team.id, userId)) return;
  await addTeamMembership(tx, events, state.team, userId, 'member', now);
  const general = state.team.general_conversation_id && (await findConversation(tx, state.team.general_conversation_id));
  if (general) await addConversationMember(tx, events, general, userId, state.team.general_conversation_id, now);
}
