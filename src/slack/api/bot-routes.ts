import { Type } from '@sinclair/typebox';
import type { App } from '../../http/app.js';
import { callerOf, requireAuth } from '../../http/auth.js';
import { Id, Label, Strict } from '../../http/schemas.js';
import { presentUser, PublicUser, Username } from '../../accounts/schemas.js';
import type { AppContext } from '../../platform/context.js';
import { TeamParams } from '../../teams/schemas.js';
import { createBotToken, createBotUser, listBots, revokeBotTokens } from './bots.js';

const tags = ['slack'];
const BotParams = Strict({ teamId: Id, botUserId: Id });
const TokenAnswer = Type.Object({ token: Type.String({ description: 'xoxb- token for /api/slack; shown once' }), token_id: Id });

/** Registers bot management for team admins: bot users and their Slack API tokens. */
export function registerBotRoutes(app: App, ctx: AppContext): void {
  const authenticated = { onRequest: requireAuth(ctx) };

  app.post(
    '/api/teams/:teamId/bots',
    {
      ...authenticated,
      schema: {
        tags,
        summary: 'Create a bot user with a Slack API token (team owners and admins)',
        params: TeamParams,
        body: Strict({ username: Username, display_name: Label(80) }),
        response: { 201: Type.Composite([Type.Object({ bot: PublicUser }), TokenAnswer]) },
      },
    },
    async (request, reply) => {
      const auth = callerOf(request);
      const bot = await createBotUser(ctx, auth, request.params.teamId, { username: request.body.username, displayName: request.body.display_name });
      const { token, row } = await createBotToken(ctx, auth, request.params.teamId, bot.id);
      return reply.status(201).send({ bot: presentUser(bot), token, token_id: row.id });
    },
  );

  app.get(
    '/api/teams/:teamId/bots',
    { ...authenticated, schema: { tags, summary: 'List the Slack API bots of a team (team owners and admins)', params: TeamParams, response: { 200: Type.Object({ bots: Type.Array(PublicUser) }) } } },
    async (request) => ({ bots: (await listBots(ctx, callerOf(request), request.params.teamId)).map(presentUser) }),
  );

  app.post(
    '/api/teams/:teamId/bots/:botUserId/tokens',
    { ...authenticated, schema: { tags, summary: 'Issue another token for a bot (team owners and admins)', params: BotParams, response: { 201: TokenAnswer } } },
    async (request, reply) => {
      const { token, row } = await createBotToken(ctx, callerOf(request), request.params.teamId, request.params.botUserId);
      return reply.status(201).send({ token, token_id: row.id });
    },
  );

  app.delete(
    '/api/teams/:teamId/bots/:botUserId/tokens',
    { ...authenticated, schema: { tags, summary: "Revoke every token of a bot (team owners and admins)", params: BotParams, response: { 200: Type.Object({ revoked: Type.Integer() }) } } },
    async (request) => ({ revoked: await revokeBotTokens(ctx, callerOf(request), request.params.teamId, request.params.botUserId) }),
  );
}
