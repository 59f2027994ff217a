import { Type } from '@sinclair/typebox';
import type { App } from '../http/app.js';
import { callerOf, requireAuth, SESSION_COOKIE } from '../http/auth.js';
import { Id, NoContent, Strict, toIso } from '../http/schemas.js';
import type { AppContext } from '../platform/context.js';
import { isServerAdmin } from '../admin/access.js';
import { listSessions, revokeOwnSession } from './sessions.js';
import { disableTwoFactor, enableTwoFactor, findTwoFactorStatus, regenerateRecoveryCodes, setUpTwoFactor } from './two-factor.js';

const Session = Type.Object({
  id: Id,
  created_at: Type.String(),
  last_seen_at: Type.String(),
  expires_at: Type.String(),
  user_agent: Type.Union([Type.String(), Type.Null()]),
  address: Type.Union([Type.String(), Type.Null()]),
  current: Type.Boolean({ description: 'True for the session that made this request' }),
});

const Code = Type.String({ minLength: 1, maxLength: 64, description: 'A 6-digit code from the authenticator app, or a recovery code' });
const CurrentPassword = Type.String({ minLength: 1, maxLength: 256 });
const RecoveryCodes = Type.Object({ recovery_codes: Type.Array(Type.String(), { description: 'Shown once; each works once' }) });

/** Routes of the caller's own security settings: sessions, two-factor authentication and their status. */
export function registerAccountSecurityRoutes(app: App, ctx: AppContext): void {
  const authenticated = { onRequest: requireAuth(ctx) };
  const tags = ['accounts'];

  app.get(
    '/api/users/me/security',
    {
      ...authenticated,
      schema: {
        tags,
        response: {
          200: Type.Object({ two_factor_enabled: Type.Boolean(), recovery_codes_left: Type.Integer(), server_admin: Type.Boolean() }),
        },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const status = await findTwoFactorStatus(ctx, caller.user.id);
      return { two_factor_enabled: status.enabled, recovery_codes_left: status.recoveryCodesLeft, server_admin: await isServerAdmin(ctx, caller.user) };
    },
  );

  app.get('/api/users/me/sessions', { ...authenticated, schema: { tags, response: { 200: Type.Object({ sessions: Type.Array(Session) }) } } }, async (request) => {
    const caller = callerOf(request);
    const rows = await listSessions(ctx, caller);
    return {
      sessions: rows.map((row) => ({
        id: row.id,
        created_at: toIso(row.created_at),
        last_seen_at: toIso(row.last_seen_at),
        expires_at: toIso(row.expires_at),
        user_agent: row.user_agent,
        address: row.address ?? null,
        current: row.id === caller.session.id,
      })),
    };
  });

  app.delete(
    '/api/users/me/sessions/:sessionId',
    { ...authenticated, schema: { tags, params: Strict({ sessionId: Id }), response: NoContent } },
    async (request, reply) => {
      const caller = callerOf(request);
      await revokeOwnSession(ctx, caller, request.params.sessionId);
      if (request.params.sessionId === caller.session.id) void reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.status(204).send();
    },
  );

  app.post(
    '/api/users/me/two-factor/setup',
    {
      ...authenticated,
      schema: {
        tags,
        body: Strict({ password: CurrentPassword }),
        response: { 200: Type.Object({ secret: Type.String({ description: 'Base32 TOTP secret' }), otpauth_uri: Type.String() }) },
      },
    },
    async (request) => {
      const { secret, uri } = await setUpTwoFactor(ctx, callerOf(request), request.body.password);
      return { secret, otpauth_uri: uri };
    },
  );

  app.post(
    '/api/users/me/two-factor/enable',
    { ...authenticated, schema: { tags, body: Strict({ code: Code }), response: { 200: RecoveryCodes } } },
    async (request) => ({ recovery_codes: await enableTwoFactor(ctx, callerOf(request), request.body.code) }),
  );

  app.post(
    '/api/users/me/two-factor/disable',
    { ...authenticated, schema: { tags, body: Strict({ password: CurrentPassword, code: Code }), response: NoContent } },
    async (request, reply) => {
      await disableTwoFactor(ctx, callerOf(request), request.body.password, request.body.code);
      return reply.status(204).send();
    },
  );

  app.post(
    '/api/users/me/two-factor/recovery-codes',
    { ...authenticated, schema: { tags, body: Strict({ password: CurrentPassword, code: Code }), response: { 200: RecoveryCodes } } },
    async (request) => ({
      recovery_codes: await regenerateRecoveryCodes(ctx, callerOf(request), request.body.password, request.body.code),
    }),
  );
}
