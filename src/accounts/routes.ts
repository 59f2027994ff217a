import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { App } from '../http/app.js';
import { callerOf, requireAuth, SESSION_COOKIE } from '../http/auth.js';
import { Id, NoContent, PUBLIC } from '../http/schemas.js';
import type { AppContext } from '../platform/context.js';
import { AppError } from '../platform/errors.js';
import { shareTeam, findUserById } from './queries.js';
import {
  changePassword,
  createTicket,
  login,
  logout,
  logoutEverywhere,
  register,
  updateProfile,
  type NewSession,
} from './actions.js';
import { completeSecondFactor } from './two-factor.js';
import {
  ChangePasswordBody,
  LoginBody,
  PublicUser,
  RegisterBody,
  SelfUser,
  SessionBody,
  UpdateProfileBody,
  presentSelf,
  presentUser,
} from './schemas.js';

const LoginChallengeBody = Type.Object({
  two_factor_required: Type.Literal(true),
  challenge: Type.String({ description: 'Send it with the code to /api/auth/login/2fa' }),
  expires_at: Type.String(),
});

function clientOf(request: FastifyRequest) {
  return { address: request.ip, userAgent: request.headers['user-agent'] };
}

/** Sends a new session as JSON, and as an HttpOnly cookie for browsers. */
function sendSession(ctx: AppContext, request: FastifyRequest, reply: FastifyReply, result: NewSession, status: number) {
  void reply.setCookie(SESSION_COOKIE, result.token, {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    // request.protocol is https with TLS here, or behind a trusted proxy that sent X-Forwarded-Proto: https.
    secure: request.protocol === 'https',
    maxAge: Math.floor(ctx.config.sessionTtlMs / 1000),
  });
  return reply.status(status).send({
    user: presentSelf(result.user),
    token: result.token,
    session_id: result.session.id,
    expires_at: new Date(Number(result.session.expires_at)).toISOString(),
  });
}

export function registerAccountRoutes(app: App, ctx: AppContext): void {
  const authenticated = { onRequest: requireAuth(ctx) };
  const tags = ['accounts'];

  app.post('/api/auth/register', { schema: { tags, security: PUBLIC, body: RegisterBody, response: { 201: SessionBody } } }, async (request, reply) => {
    const result = await register(ctx, request.body, clientOf(request));
    return sendSession(ctx, request, reply, result, 201);
  });

  app.post(
    '/api/auth/login',
    { schema: { tags, security: PUBLIC, body: LoginBody, response: { 200: SessionBody, 202: LoginChallengeBody } } },
    async (request, reply) => {
      const result = await login(ctx, request.body, clientOf(request));
      if ('challenge' in result) {
        return reply.status(202).send({ two_factor_required: true, challenge: result.challenge, expires_at: new Date(result.expiresAt).toISOString() });
      }
      return sendSession(ctx, request, reply, result, 200);
    },
  );

  app.post(
    '/api/auth/login/2fa',
    {
      schema: {
        tags,
        security: PUBLIC,
        body: Type.Object(
          { challenge: Type.String({ minLength: 1, maxLength: 128 }), code: Type.String({ minLength: 1, maxLength: 64 }) },
          { additionalProperties: false },
        ),
        response: { 200: SessionBody },
      },
    },
    async (request, reply) => {
      const result = await completeSecondFactor(ctx, request.body.challenge, request.body.code, clientOf(request));
      return sendSession(ctx, request, reply, result, 200);
    },
  );

  app.post('/api/auth/logout', { ...authenticated, schema: { tags, response: NoContent } }, async (request, reply) => {
    await logout(ctx, callerOf(request));
    return reply.clearCookie(SESSION_COOKIE, { path: '/' }).status(204).send();
  });

  app.post('/api/auth/logout-all', { ...authenticated, schema: { tags, response: NoContent } }, async (request, reply) => {
    await logoutEverywhere(ctx, callerOf(request));
    return reply.clearCookie(SESSION_COOKIE, { path: '/' }).status(204).send();
  });

  app.get('/api/users/me', { ...authenticated, schema: { tags, response: { 200: SelfUser } } }, async (request) =>
    presentSelf(callerOf(request).user),
  );

  app.patch('/api/users/me', { ...authenticated, schema: { tags, body: UpdateProfileBody, response: { 200: SelfUser } } }, async (request) =>
    presentSelf(await updateProfile(ctx, callerOf(request), request.body)),
  );

  app.post('/api/users/me/password', { ...authenticated, schema: { tags, body: ChangePasswordBody, response: NoContent } }, async (request, reply) => {
    await changePassword(ctx, callerOf(request), request.body);
    return reply.status(204).send();
  });

  app.get(
    '/api/users/:userId',
    { ...authenticated, schema: { tags, params: Type.Object({ userId: Id }, { additionalProperties: false }), response: { 200: PublicUser } } },
    async (request) => {
      const caller = callerOf(request);
      const { userId } = request.params;
      // Profiles are visible to teammates only, so ids cannot be used to list every account.
      const visible = userId === caller.user.id || (await shareTeam(ctx.storage.db, caller.user.id, userId));
      const user = visible ? await findUserById(ctx.storage.db, userId) : undefined;
      if (user === undefined) throw new AppError('USER_NOT_FOUND', 'User not found');
      return presentUser(user);
    },
  );

  app.post(
    '/api/realtime/ticket',
    { ...authenticated, schema: { tags: ['realtime'], response: { 201: Type.Object({ ticket: Type.String(), expires_at: Type.String() }) } } },
    async (request, reply) => {
      const { ticket, expiresAt } = await createTicket(ctx, callerOf(request));
      return reply.status(201).send({ ticket, expires_at: new Date(expiresAt).toISOString() });
    },
  );
}
