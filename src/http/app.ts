import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyServerFactory, type FastifyReply, type FastifyInstance, type FastifyBaseLogger, type RawServerDefault } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type https from 'node:https';
import fastifyCookie from '@fastify/cookie';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { sql } from 'kysely';
import { registerAccountRoutes } from '../accounts/routes.js';
import { registerConversationRoutes } from '../conversations/routes.js';
import { registerMessageRoutes } from '../messages/routes.js';
import { registerTeamRoutes } from '../teams/routes.js';
import { registerTeamSettingsRoutes } from '../teams/settings-routes.js';
import { registerVersionRoutes } from '../messages/versions.js';
import { registerReactionRoutes } from '../reactions/routes.js';
import { registerReadRoutes } from '../reads/routes.js';
import { registerPinRoutes } from '../pins/routes.js';
import { registerSavedRoutes } from '../saved/routes.js';
import { registerWebClient } from '../web/static.js';
import { registerFileRoutes } from '../files/routes.js';
import { registerSearchRoutes } from '../search/routes.js';
import { registerPresenceRoutes } from '../presence/routes.js';
import { PresenceService } from '../presence/service.js';
import { registerNotificationRoutes } from '../notifications/routes.js';
import { NotificationService, type NotificationOptions } from '../notifications/service.js';
import { JobRunner } from '../jobs/runner.js';
import { registerThumbnailJob } from '../files/thumbnails.js';
import { registerRetentionPurge, scheduleRetentionPurge } from '../retention/schedule.js';
import { MemorySignalHub } from '../realtime/signals.js';
import { RedisSignalHub } from '../realtime/redis-signals.js';
import type { Config } from '../platform/config.js';
import type { AppContext } from '../platform/context.js';
import { AppError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { createLogger, type Logger } from '../platform/logger.js';
import { Metrics, METRICS_PATH } from '../platform/metrics.js';
import { MemoryEventBus } from '../realtime/event-bus.js';
import { Gateway } from '../realtime/gateway.js';
import { RedisEventBus } from '../realtime/redis-bus.js';
import { openStorage } from '../storage/database.js';
import { handleError } from './error-handler.js';
import { PUBLIC } from './schemas.js';
import { registerJsonParser } from './body-parser.js';
import { registerNulGuard } from './nul-guard.js';
import { RateLimits } from './rate-limits.js';
import { SessionCache } from '../accounts/session-cache.js';
import { LatestPageCache } from '../messages/page-cache.js';
import { openFileServices } from '../files/services.js';
import { createValidatorCompiler } from './validation.js';
import { LoginThrottle } from '../accounts/login-throttle.js';
import { registerAccountSecurityRoutes } from '../accounts/security-routes.js';
import { registerAdminRoutes } from '../admin/routes.js';
import { registerAuditRoutes } from '../audit/routes.js';
import { registerSlackImportRoutes } from '../slack/import/routes.js';
import { registerSecurityHeaders } from './security-headers.js';
import { CertificateReloader, createHttpsServer } from './tls.js';
import { registerSlackApiRoutes } from '../slack/api/routes.js';
import { registerBotRoutes } from '../slack/api/bot-routes.js';
import { registerWebhookRoutes } from '../slack/webhooks/routes.js';

export type App = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

/** A built server: the HTTP app, the gateway and the shared context, not yet listening. */
export interface ChatterBox {
  app: App;
  ctx: AppContext;
  gateway: Gateway;
  notifications: NotificationService;
  /** Every route the app serves, HEAD routes that Fastify adds for GET included, so tests can check each one. */
  routes: readonly RouteEntry[];
  /** Starts listening and returns the base URL, such as http://127.0.0.1:3000. */
  listen(): Promise<string>;
  /** Stops accepting, closes sockets with 1001, finishes in-flight requests and closes storage. */
  close(): Promise<void>;
  /** Reads the TLS certificate and key files again; returns false, keeping the current pair, if they are invalid or TLS is off. */
  reloadCertificate(): boolean;
}

/** One method and URL pattern of a route, such as GET /api/messages/:messageId. */
export interface RouteEntry {
  method: string;
  url: string;
}

/** Parts of a node that are code rather than settings, such as native push senders. */
export type BuildOptions = NotificationOptions;

/**
 * Builds a ChatterBox node from a config. The server entry point and the
 * tests share this one factory.
 */
export async function buildChatterBox(config: Config, logger: Logger = createLogger(config.logLevel), options: BuildOptions = {}): Promise<ChatterBox> {
  const storage = await openStorage({
    dataDir: config.dataDir,
    databaseUrl: config.databaseUrl || undefined,
    databaseSchema: config.databaseSchema || undefined,
    databasePoolSize: config.databasePoolSize,
    databaseKey: config.databaseKey,
    logger,
  });
  logger.info({ component: 'storage', dialect: storage.dialect.name }, 'storage ready');
  const metrics = new Metrics();
  // Redis connects in the background: the node starts without it, and /readyz returns 503 until it is connected.
  const redisBus = config.redisUrl === '' ? undefined : new RedisEventBus({ url: config.redisUrl, keyPrefix: config.redisKeyPrefix, logger, metrics });
  const rateLimitStore = redisBus && { client: redisBus.client, keyPrefix: config.redisKeyPrefix };
  const signals = redisBus === undefined
    ? new MemorySignalHub()
    : new RedisSignalHub({ url: config.redisUrl, keyPrefix: config.redisKeyPrefix, publisher: redisBus.client, logger });
  const ctx: AppContext = {
    config,
    logger,
    storage,
    bus: redisBus ?? new MemoryEventBus(),
    rateLimits: new RateLimits(config.rateLimits, rateLimitStore, logger),
    loginThrottle: new LoginThrottle(config.loginThrottle, rateLimitStore),
    sessionCache: new SessionCache(config.authCacheTtlMs),
    pageCache: new LatestPageCache({ maxBytes: config.historyCacheBytes, maxAgeMs: config.historyCacheMaxAgeMs }),
    metrics,
    files: openFileServices(config, storage.db, logger),
    signals,
    presence: new PresenceService({ config, storage, logger, signals, redisClient: redisBus?.client }),
    jobs: new JobRunner(storage, config.jobs, logger),
    now: () => Date.now(),
  };
  ctx.files.sweeper.start();
  const notifications = new NotificationService(ctx, options);
  registerThumbnailJob(ctx);
  registerRetentionPurge(ctx);

  const tlsEnabled = config.tls.certFile !== '';
  // With a certificate configured, the one server speaks HTTPS and WSS and nothing else.
  const serverFactory: FastifyServerFactory<RawServerDefault> = (handler) => createHttpsServer(config.tls, handler) as unknown as RawServerDefault;
  const app: App = Fastify({
    ...(tlsEnabled && { serverFactory }),
    loggerInstance: logger.child({ component: 'http' }) as FastifyBaseLogger,
    bodyLimit: config.maxBodyBytes,
    genReqId: () => newId(),
    requestIdHeader: false,
    // Requests that arrive while the node stops get the API's own 503 body from the hook below.
    return503OnClosing: false,
    // Behind a load balancer, request.ip is the client's address only when the proxy is trusted.
    trustProxy: config.trustedProxies.length > 0 ? config.trustedProxies : false,
    // A path with broken percent-encoding gets the API's error body, not Fastify's.
    frameworkErrors: (_error, _request, reply: FastifyReply) => {
      const appError = new AppError('VALIDATION_FAILED', 'The URL is not valid', { field: 'url' });
      void reply.status(appError.status).send(appError.toBody());
    },
    forceCloseConnections: 'idle',
  }).withTypeProvider<TypeBoxTypeProvider>();

  const routes: RouteEntry[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  });
  app.setValidatorCompiler(createValidatorCompiler());
  app.setErrorHandler<Error>((error, request, reply) => {
    handleError(error, request, reply);
    if (reply.statusCode === 500) metrics.databaseErrors.inc({ source: 'http' });
  });
  app.setNotFoundHandler((request) => {
    throw new AppError('ROUTE_NOT_FOUND', `No route for ${request.method} ${request.url.split('?')[0]}`);
  });
  app.decorateRequest('auth', undefined);
  let closing = false;
  app.addHook('onRequest', async (_request, reply) => {
    if (!closing) return;
    // Sent on a keep-alive connection that the stopping node is about to close: the client retries elsewhere.
    void reply.header('connection', 'close');
    throw new AppError('UNAVAILABLE', 'The server is shutting down; retry the request');
  });
  app.addHook('onSend', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  registerSecurityHeaders(app);
  // routeOptions.url is the route pattern, such as /api/conversations/:conversationId/messages, so ids never become labels.
  app.addHook('onResponse', async (request, reply) => {
    metrics.observeHttpRequest(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime);
  });

  registerJsonParser(app);
  registerNulGuard(app);
  await app.register(fastifyCookie);
  await registerOpenApi(app);

  app.get('/healthz', { schema: { tags: ['operations'], security: PUBLIC } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { tags: ['operations'], security: PUBLIC } }, async (_request, reply) => {
    // Only a node that never reached Redis is held back: after a Redis restart every node would
    // fail at once and the balancer would have no server left, while each still serves its own sockets.
    if (!ctx.bus.hasConnected()) {
      return reply.status(503).send(new AppError('UNAVAILABLE', 'Redis has not connected yet').toBody());
    }
    try {
      await sql`select 1`.execute(storage.db);
      return { status: 'ready' };
    } catch (error) {
      logger.error({ component: 'http', err: error }, 'readiness check failed');
      return reply.status(503).send(new AppError('UNAVAILABLE', 'Storage is not reachable').toBody());
    }
  });

  if (config.metrics) {
    app.get(METRICS_PATH, { schema: { hide: true } }, async (_request, reply) => {
      void reply.header('content-type', metrics.registry.contentType);
      return metrics.registry.metrics();
    });
  }

  registerAccountRoutes(app, ctx);
  registerTeamRoutes(app, ctx);
  registerConversationRoutes(app, ctx);
  registerMessageRoutes(app, ctx);
  registerTeamSettingsRoutes(app, ctx);
  registerVersionRoutes(app, ctx);
  registerReactionRoutes(app, ctx);
  registerReadRoutes(app, ctx);
  registerPinRoutes(app, ctx);
  registerSavedRoutes(app, ctx);
  registerAccountSecurityRoutes(app, ctx);
  registerAdminRoutes(app, ctx);
  registerAuditRoutes(app, ctx);
  registerSlackImportRoutes(app, ctx);
  await registerWebClient(app, ctx);
  registerFileRoutes(app, ctx);
  registerSearchRoutes(app, ctx);
  registerPresenceRoutes(app, ctx);
  registerNotificationRoutes(app, ctx, notifications);
  registerBotRoutes(app, ctx);
  registerWebhookRoutes(app, ctx);
  registerSlackApiRoutes(app, ctx);

  await app.ready();
  const gateway = new Gateway(ctx, app.server);
  const certificates = tlsEnabled ? new CertificateReloader(config.tls, app.server as unknown as https.Server, logger) : undefined;
  ctx.jobs.start();
  // Every node stores today's purge if no node did, so the daily schedule survives a purge that failed for good.
  scheduleRetentionPurge(ctx).catch((error: unknown) => logger.error({ component: 'retention', err: error }, 'scheduling the retention purge failed'));

  return {
    app,
    ctx,
    gateway,
    notifications,
    routes,
    async listen() {
      await app.listen({ host: config.host, port: config.port });
      const address = app.server.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      logger.info({ component: 'server', host: address.address, port: address.port, tls: tlsEnabled }, 'listening');
      return `${tlsEnabled ? 'https' : 'http'}://${host}:${address.port}`;
    },
    reloadCertificate: () => certificates?.reload() ?? false,
    async close() {
      const started = Date.now();
      closing = true;
      certificates?.close();
      await gateway.close();
      // server.close() ends only the keep-alive connections that are idle when it is called. A
      // response still streaming then (a file download) leaves its connection open for the
      // keep-alive timeout (72 s by default in Fastify 5) after it ends, so idle connections are
      // closed again until the server has stopped.
      const idleSweep = setInterval(() => app.server.closeIdleConnections(), 100);
      try {
        await app.close();
      } finally {
        clearInterval(idleSweep);
      }
      await ctx.jobs.stop();
      await ctx.presence.close();
      notifications.close();
      await ctx.signals.close();
      await ctx.bus.close();
      await ctx.files.close();
      await storage.close();
      logger.info({ component: 'server', durationMs: Date.now() - started }, 'stopped');
    },
  };
}

async function registerOpenApi(app: App): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'ChatterBox API',
        version: '0.1.0',
        description: 'Team messaging over HTTP; real-time events over the WebSocket at /api/realtime (see docs/realtime.md).',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      },
      security: [{ bearer: [] }],
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/api/docs' });
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
