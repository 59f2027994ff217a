import { pino, type Logger } from 'pino';

/** Paths whose values never reach a log line. */
const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'password',
  'newPassword',
  'currentPassword',
  'token',
  'ticket',
  'slack_token',
  '*.password',
  '*.token',
  '*.slack_token',
];

/** Creates the root logger; modules take children with a `component` field. Logs go to stdout unless a destination is given. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
    serializers: { req: serializeRequest },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}

const SECRET_PARAMETERS = /([?&](?:token|ticket|access_token|password)=)[^&]*/gi;
/** The secret last segment of an incoming webhook URL, /api/hooks/<id>/<secret>. */
const WEBHOOK_SECRET = /^(\/api\/hooks\/[^/?]+\/)[^/?]+/;

/** Logs a request's method and URL, with the values of secret-looking query parameters removed. */
function serializeRequest(request: { id?: unknown; method?: string; url?: string; ip?: string }) {
  return {
    id: request.id,
    method: request.method,
    url: request.url?.replace(SECRET_PARAMETERS, '$1[redacted]').replace(WEBHOOK_SECRET, '$1[redacted]'),
    remoteAddress: request.ip,
  };
}

export type { Logger };
