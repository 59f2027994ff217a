import { Type } from '@sinclair/typebox';
import type { App } from '../../http/app.js';
import { callerOf, requireAuth } from '../../http/auth.js';
import { Id, Label, NoContent, PUBLIC, Strict, toIso } from '../../http/schemas.js';
import type { AppContext } from '../../platform/context.js';
import type { WebhookRow } from '../../storage/schema.js';
import { TeamParams } from '../../teams/schemas.js';
import { createWebhook, deleteWebhook, HOOKS_PATH, listWebhooks, postToWebhook } from './actions.js';

const tags = ['slack'];

const Webhook = Type.Object({
  id: Id,
  team_id: Id,
  conversation_id: Id,
  bot_user_id: Id,
  name: Type.String(),
  created_by: Id,
  created_at: Type.String(),
});

function presentWebhook(row: WebhookRow) {
  return {
    id: row.id,
    team_id: row.team_id,
    conversation_id: row.conversation_id,
    bot_user_id: row.bot_user_id,
    name: row.name,
    created_by: row.created_by,
    created_at: toIso(row.created_at),
  };
}

/** Registers webhook management for team admins and the webhook URLs themselves. */
export function registerWebhookRoutes(app: App, ctx: AppContext): void {
  const authenticated = { onRequest: requireAuth(ctx) };

  app.post(
    '/api/teams/:teamId/webhooks',
    {
      ...authenticated,
      schema: {
        tags,
        summary: 'Create an incoming webhook for a channel (team owners and admins)',
        description: 'The response carries the webhook URL, which contains its secret, only this once. Store it like a password.',
        params: TeamParams,
        body: Strict({ conversation_id: Id, name: Label(80) }),
        response: { 201: Type.Object({ webhook: Webhook, url: Type.String() }) },
      },
    },
    async (request, reply) => {
      const { webhook, token } = await createWebhook(ctx, callerOf(request), request.params.teamId, { conversationId: request.body.conversation_id, name: request.body.name });
      return reply.status(201).send({ webhook: presentWebhook(webhook), url: `${request.protocol}://${request.host}${HOOKS_PATH}/${webhook.id}/${token}` });
    },
  );

  app.get(
    '/api/teams/:teamId/webhooks',
    { ...authenticated, schema: { tags, summary: 'List the incoming webhooks of a team (team owners and admins)', params: TeamParams, response: { 200: Type.Object({ webhooks: Type.Array(Webhook) }) } } },
    async (request) => ({ webhooks: (await listWebhooks(ctx, callerOf(request), request.params.teamId)).map(presentWebhook) }),
  );

  app.delete(
    '/api/teams/:teamId/webhooks/:webhookId',
    { ...authenticated, schema: { tags, summary: 'Delete an incoming webhook (team owners and admins)', params: Strict({ teamId: Id, webhookId: Id }), response: NoContent } },
    async (request, reply) => {
      await deleteWebhook(ctx, callerOf(request), request.params.teamId, request.params.webhookId);
      return reply.status(204).send();
    },
  );

  void app.register(async (scope) => registerHookRoute(scope as App, ctx));
}

/**
 * Registers the webhook URL. Slack integrations POST JSON, or a form with the JSON in
 * its `payload` field, and read a plain-text response.
 */
function registerHookRoute(scope: App, ctx: AppContext): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    const contentType = request.headers['content-type'] ?? '';
    try {
      if (/^application\/x-www-form-urlencoded/i.test(contentType)) {
        const payload = new URLSearchParams(body as string).get('payload');
        done(null, payload === null ? undefined : JSON.parse(payload));
        return;
      }
      done(null, JSON.parse(body as string));
    } catch {
      done(null, undefined);
    }
  });
  scope.setErrorHandler((error, request, reply) => {
    if ((error as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.status(413).type('text/plain').send('request_too_large');
    request.log.error({ err: error }, 'webhook post failed');
    return reply.status(500).type('text/plain').send('internal_error');
  });

  scope.post(
    `${HOOKS_PATH}/:webhookId/:secret`,
    {
      schema: {
        tags,
        summary: 'Post a Slack incoming-webhook payload',
        description: 'JSON, or form-encoded with the JSON in `payload`: text, blocks, attachments, username, icon_url, icon_emoji. Responds "ok" or a Slack error in plain text.',
        params: Type.Object({ webhookId: Type.String({ maxLength: 64 }), secret: Type.String({ maxLength: 128 }) }),
        security: PUBLIC,
      },
    },
    async (request, reply) => {
      const { webhookId, secret } = request.params as { webhookId: string; secret: string };
      const answer = await postToWebhook(ctx, webhookId, secret, request.body, request.ip);
      if (answer.status >= 400) request.log.info({ webhookId, answer: answer.body }, 'webhook post rejected');
      return reply.status(answer.status).type('text/plain').send(answer.body);
    },
  );
}
