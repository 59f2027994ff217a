import { Type } from '@sinclair/typebox';
import type { App } from '../http/app.js';
import { callerOf, requireAuth } from '../http/auth.js';
import { NoContent } from '../http/schemas.js';
import type { AppContext } from '../platform/context.js';
import { getStreamPositions } from '../storage/streams.js';
import { conversationStream } from '../realtime/events.js';
import { accessTeam } from '../teams/access.js';
import { TeamParams } from '../teams/schemas.js';
import { accessConversation } from './access.js';
import {
  createChannel,
  inviteMembers,
  joinChannel,
  leaveConversation,
  openDirectMessage,
  removeMember,
  setArchived,
  updateConversation,
} from './actions.js';
import { listConversationsOfUser, listMemberIds, listMemberIdsOf, listPublicChannels } from './queries.js';
import {
  Conversation,
  ConversationMemberParams,
  ConversationParams,
  CreateChannelBody,
  ListConversationsQuery,
  UpdateConversationBody,
  UserIdsBody,
  presentConversation,
  type ConversationExtras,
} from './schemas.js';
import type { ConversationRow } from '../storage/schema.js';
import { findTeam } from '../teams/queries.js';

const ConversationList = Type.Object({ conversations: Type.Array(Conversation) });

export function registerConversationRoutes(app: App, ctx: AppContext): void {
  const authenticated = { onRequest: requireAuth(ctx) };
  const tags = ['conversations'];
  const db = ctx.storage.db;

  /** Presents a conversation an action returned, marking whether it is its team's #general. */
  async function view(row: ConversationRow, extras: ConversationExtras = {}) {
    const team = await findTeam(db, row.team_id);
    return presentConversation(row, { generalId: team?.general_conversation_id ?? null, ...extras });
  }

  app.post(
    '/api/teams/:teamId/channels',
    { ...authenticated, schema: { tags, params: TeamParams, body: CreateChannelBody, response: { 201: Conversation } } },
    async (request, reply) => {
      const conversation = await createChannel(ctx, callerOf(request), request.params.teamId, request.body);
      return reply.status(201).send(await view(conversation, { isMember: true }));
    },
  );

  app.get(
    '/api/teams/:teamId/channels',
    { ...authenticated, schema: { tags, params: TeamParams, response: { 200: ConversationList } } },
    async (request) => {
      const userId = callerOf(request).user.id;
      const { team } = await accessTeam(db, request.params.teamId, userId);
      const mine = new Set((await listConversationsOfUser(db, userId, team.id)).map((row) => row.id));
      const rows = await listPublicChannels(db, team.id);
      return {
        conversations: rows.map((row) => presentConversation(row, { generalId: team.general_conversation_id, isMember: mine.has(row.id) })),
      };
    },
  );

  app.post(
    '/api/teams/:teamId/dms',
    { ...authenticated, schema: { tags, params: TeamParams, body: UserIdsBody, response: { 200: Conversation, 201: Conversation } } },
    async (request, reply) => {
      const result = await openDirectMessage(ctx, callerOf(request), request.params.teamId, request.body.user_ids);
      return reply
        .status(result.created ? 201 : 200)
        .send(await view(result.conversation, { isMember: true, memberIds: result.memberIds }));
    },
  );

  app.get('/api/conversations', { ...authenticated, schema: { tags, querystring: ListConversationsQuery, response: { 200: ConversationList } } }, async (request) => {
    const rows = await listConversationsOfUser(db, callerOf(request).user.id, request.query.team_id);
    const directIds = rows.filter((row) => row.kind === 'dm' || row.kind === 'group').map((row) => row.id);
    const members = await listMemberIdsOf(db, directIds);
    const positions = await getStreamPositions(db, rows.map((row) => conversationStream(row.id)));
    return {
      conversations: rows.map((row) =>
        presentConversation(row, {
          generalId: row.general_conversation_id,
          isMember: true,
          memberIds: members.get(row.id),
          lastSeq: positions.get(conversationStream(row.id))?.lastSeq ?? 0,
        }),
      ),
    };
  });

  app.get('/api/conversations/:conversationId', { ...authenticated, schema: { tags, params: ConversationParams, response: { 200: Conversation } } }, async (request) => {
    const access = await accessConversation(db, request.params.conversationId, callerOf(request).user.id, 'read');
    const { conversation } = access;
    const isDirect = conversation.kind === 'dm' || conversation.kind === 'group';
    const positions = await getStreamPositions(db, [conversationStream(conversation.id)]);
    return presentConversation(conversation, {
      generalId: access.team.general_conversation_id,
      isMember: access.isMember,
      memberIds: isDirect ? await listMemberIds(db, conversation.id) : undefined,
      lastSeq: positions.get(conversationStream(conversation.id))?.lastSeq ?? 0,
    });
  });

  app.patch(
    '/api/conversations/:conversationId',
    { ...authenticated, schema: { tags, params: ConversationParams, body: UpdateConversationBody, response: { 200: Conversation } } },
    async (request) => view(await updateConversation(ctx, callerOf(request), request.params.conversationId, request.body)),
  );

  app.post('/api/conversations/:conversationId/archive', { ...authenticated, schema: { tags, params: ConversationParams, response: { 200: Conversation } } }, async (request) =>
    view(await setArchived(ctx, callerOf(request), request.params.conversationId, true)),
  );

  app.post('/api/conversations/:conversationId/unarchive', { ...authenticated, schema: { tags, params: ConversationParams, response: { 200: Conversation } } }, async (request) =>
    view(await setArchived(ctx, callerOf(request), request.params.conversationId, false)),
  );

  app.post('/api/conversations/:conversationId/join', { ...authenticated, schema: { tags, params: ConversationParams, response: { 200: Conversation } } }, async (request) =>
    view(await joinChannel(ctx, callerOf(request), request.params.conversationId), { isMember: true }),
  );

  app.post('/api/conversations/:conversationId/leave', { ...authenticated, schema: { tags, params: ConversationParams, response: NoContent } }, async (request, reply) => {
    await leaveConversation(ctx, callerOf(request), request.params.conversationId);
    return reply.status(204).send();
  });

  app.get(
    '/api/conversations/:conversationId/members',
    { ...authenticated, schema: { tags, params: ConversationParams, response: { 200: Type.Object({ user_ids: Type.Array(Type.String()) }) } } },
    async (request) => {
      await accessConversation(db, request.params.conversationId, callerOf(request).user.id, 'read');
      return { user_ids: await listMemberIds(db, request.params.conversationId) };
    },
  );

  app.post(
    '/api/conversations/:conversationId/members',
    { ...authenticated, schema: { tags, params: ConversationParams, body: UserIdsBody } },
    async (request) => ({ added: await inviteMembers(ctx, callerOf(request), request.params.conversationId, request.body.user_ids) }),
  );

  app.delete(
    '/api/conversations/:conversationId/members/:userId',
    { ...authenticated, schema: { tags, params: ConversationMemberParams, response: NoContent } },
    async (request, reply) => {
      await removeMember(ctx, callerOf(request), request.params.conversationId, request.params.userId);
      return reply.status(204).send();
    },
  );
}
