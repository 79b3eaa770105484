/**
 * The local control API (../shared/DESIGN.md, "Control API"). Built here, listened on by
 * the daemon through listenApi. Read-only endpoints are open to anyone on the
 * host; the ones that change the network need the bearer token from the
 * state directory. Browsers are kept out by accepting only loopback Host
 * headers (DNS rebinding) and never sending CORS headers.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isLoopbackAddress, listenLoopback, type LoopbackListener } from './listen.js';
import Fastify, {
  LogController,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Logger } from 'pino';
import type { MeshControl, OperationResult } from '../daemon/status.js';
import { METRICS_CONTENT_TYPE, renderMetrics } from './metrics.js';
import { RateLimitedCount } from './rate-limited-log.js';
import { arrivedOnUnixSocket } from './unix-socket.js';

export interface BuildServerOptions {
  control: MeshControl;
  token: string;
  /** Shown in 401 answers so the caller knows where the token is. */
  tokenPath: string;
  /** Problems of the API's own sockets (port 7789 held by someone else), shown in status as reasons. */
  apiProblems?: () => readonly string[];
  /** Request lines and errors go here; false or absent: no logging. */
  logger?: Logger | false;
}

/** Loopback addresses to listen on (`localhost` means 127.0.0.1 and ::1), all with one port. */
export type ApiListenOptions = { port: number } & (
  | { host: string | readonly string[] }
  | { hosts: readonly string[] }
);

export const BODY_LIMIT_BYTES = 16 * 1024;

type Operation = OperationResult['operation'];
const OPERATIONS: readonly Operation[] = ['start', 'stop', 'restart', 'reload'];

/** Methods per known path, for 405 answers and their Allow header. */
const ALLOWED_METHODS = new Map<string, readonly string[]>([
  ['/status', ['GET', 'HEAD']],
  ['/healthz', ['GET', 'HEAD']],
  ['/metrics', ['GET', 'HEAD']],
  ...OPERATIONS.map((op): [string, readonly string[]] => [`/${op}`, ['POST']]),
]);

const ENDPOINTS_SUMMARY = 'GET /status, /healthz, /metrics; POST /start, /stop, /restart, /reload';

/** The sockets each app answers on, closed with the app. */
const listeners = new WeakMap<FastifyInstance, Pick<LoopbackListener, 'close'>[]>();

export function buildServer(opts: BuildServerOptions): FastifyInstance {
  const app = Fastify({
    ...loggerOptions(opts.logger),
    // The default request lines are replaced by one line per request in onResponse.
    logController: new LogController({ disableRequestLogging: true }),
    // Timeouts and the connection cap live on the loopback servers (listen.ts), which are the
    // only sockets requests arrive on: fastify's own server never listens.
    bodyLimit: BODY_LIMIT_BYTES,
    // Malformed URLs and the like: the same JSON shape as every other error.
    frameworkErrors: (error, _request, reply) => {
      void (reply as unknown as FastifyReply).code(error.statusCode ?? 400).send({ error: error.message });
    },
  }) as unknown as FastifyInstance;

  listeners.set(app, []);
  app.addHook('onClose', async () => {
    const open = listeners.get(app) ?? [];
    listeners.set(app, []);
    await Promise.all(open.map((l) => l.close()));
  });

  acceptAnyBodyWithinLimit(app);
  app.addHook('onRequest', rejectForeignHost);
  app.addHook('onSend', stripCorsHeaders);
  app.addHook('onResponse', requestLogger(app.log));
  app.setErrorHandler(answerError);
  app.setNotFoundHandler(answerNotFound);

  registerReadRoutes(app, withApiProblems(opts.control, opts.apiProblems));
  registerOperationRoutes(app, opts);
  return app;
}

/**
 * Listens on every given loopback address with one port (see listen.ts) and answers there;
 * returns the port. The daemon instead opens the sockets itself before this module is loaded
 * and hands them over with `serveOn`.
 */
export async function listenApi(app: FastifyInstance, options: ApiListenOptions): Promise<LoopbackListener> {
  const listener = await listenLoopback('hosts' in options ? options.hosts : options.host, options.port, app.log);
  await serveOn(app, listener);
  return listener;
}

/** Route the listener's requests (also those waiting already) to the app; the app closes it. */
export async function serveOn(app: FastifyInstance, listener: Pick<LoopbackListener, 'attach' | 'close'>): Promise<void> {
  await app.ready();
  listeners.get(app)?.push(listener);
  listener.attach((req, res) => app.routing(req, res));
}

export { isLoopbackAddress };

// ---------------------------------------------------------------- routes

function registerReadRoutes(app: FastifyInstance, control: Pick<MeshControl, 'status'>): void {
  app.get('/status', async () => control.status());

  app.get('/healthz', async (_request, reply) => {
    const status = await control.status();
    if (status.state === 'running') return { ok: true, state: status.state };
    return reply.code(503).send({ ok: false, state: status.state, reasons: status.reasons });
  });

  app.get('/metrics', async (_request, reply) => {
    const status = await control.status();
    return reply.type(METRICS_CONTENT_TYPE).send(renderMetrics(status));
  });
}

/** The status with the API's own problems as reasons: a mesh nobody can reach on 7789 is degraded. */
function withApiProblems(control: MeshControl, problems: (() => readonly string[]) | undefined): Pick<MeshControl, 'status'> {
  if (!problems) return control;
  return {
    async status() {
      const s = await control.status();
      const extra = problems();
      if (extra.length === 0) return s;
      return { ...s, state: s.state === 'running' ? 'degraded' : s.state, reasons: [...s.reasons, ...extra] };
    },
  };
}

function registerOperationRoutes(app: FastifyInstance, opts: BuildServerOptions): void {
  const requireToken = tokenCheck(opts.token, opts.tokenPath);
  for (const operation of OPERATIONS) {
    app.post(`/${operation}`, { onRequest: requireToken }, async (request, reply) => {
      request.log.info({ operation }, 'operation requested through the API');
      const result = await opts.control[operation]();
      request.log.info(
        { operation, ok: result.ok, state: result.state, changes: result.changes.length, errors: result.errors.length },
        'operation finished',
      );
      return reply.code(result.ok ? 200 : 500).send(result);
    });
  }
}

// ---------------------------------------------------------------- auth

/**
 * Compares SHA-256 digests so the comparison is constant-time and over
 * equal-length buffers whatever the caller sent.
 */
function tokenCheck(token: string, tokenPath: string) {
  const expected = digest(token);
  const message =
    `this endpoint changes the network and needs Authorization: Bearer <token>; ` +
    `the token is in ${tokenPath} (readable by root)`;

  return async function requireToken(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    // The socket's file mode already admitted only root and the daemon's user.
    if (arrivedOnUnixSocket(request.raw)) return;
    const presented = bearerToken(request.headers.authorization);
    if (presented !== null && timingSafeEqual(digest(presented), expected)) return;
    request.log.debug({ reason: presented === null ? 'missing token' : 'wrong token' }, 'API operation refused');
    await reply.code(401).header('www-authenticate', 'Bearer realm="vxmesh"').send({ error: message });
  };
}

function bearerToken(header: string | undefined): string | null {
  const match = header === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1] ?? null;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

// ---------------------------------------------------------------- host check

async function rejectForeignHost(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const host = request.headers.host;
  if (host !== undefined && isLoopbackHostHeader(host)) return;
  await reply.code(403).send({
    error:
      `Host header ${JSON.stringify(host ?? '')} is not a loopback name; the vxmesh API answers only to ` +
      `localhost, 127.0.0.1 (or any 127.x address) and [::1] (protection against DNS rebinding)`,
  });
}

/** localhost, 127.x.y.z or [::1], each optionally followed by :port. */
export function isLoopbackHostHeader(header: string): boolean {
  const parsed = splitHostHeader(header.trim().toLowerCase());
  if (parsed === null) return false;
  const { name, port } = parsed;
  if (port !== null && !/^\d{1,5}$/.test(port)) return false;
  return name === 'localhost' || name === 'localhost.' || isLoopbackAddress(name);
}

function splitHostHeader(header: string): { name: string; port: string | null } | null {
  if (header.startsWith('[')) {
    const end = header.indexOf(']');
    if (end < 0) return null;
    const rest = header.slice(end + 1);
    if (rest !== '' && !rest.startsWith(':')) return null;
    return { name: header.slice(1, end), port: rest === '' ? null : rest.slice(1) };
  }
  const colons = header.split(':').length - 1;
  if (colons > 1) return null; // a bare IPv6 address is not a valid Host header
  const [name = '', port] = header.split(':');
  return { name, port: port ?? null };
}

// ---------------------------------------------------------------- answers and logging

async function stripCorsHeaders(_request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  // Nothing here sets them; this makes "no CORS headers ever" hold whatever is added later.
  for (const name of Object.keys(reply.getHeaders())) {
    if (name.toLowerCase().startsWith('access-control-')) reply.removeHeader(name);
  }
  return payload;
}

function answerNotFound(request: FastifyRequest, reply: FastifyReply): void {
  const path = pathOf(request.url);
  const allowed = ALLOWED_METHODS.get(path);
  if (allowed !== undefined) {
    void reply
      .code(405)
      .header('allow', allowed.join(', '))
      .send({ error: `method ${request.method} is not allowed on ${path}; allowed: ${allowed.join(', ')}` });
    return;
  }
  void reply.code(404).send({ error: `no such endpoint: ${request.method} ${path} (the API has ${ENDPOINTS_SUMMARY})` });
}

function answerError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const statusCode = errorStatusCode(error);
  if (statusCode >= 500) {
    request.log.error({ err: error, url: pathOf(request.url) }, 'API request failed');
  }
  void reply.code(statusCode).send({ error: errorMessage(error, statusCode) });
}

function errorStatusCode(error: FastifyError): number {
  const code = error.statusCode;
  return code !== undefined && code >= 400 && code <= 599 ? code : 500;
}

function errorMessage(error: FastifyError, statusCode: number): string {
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return `request body is too large (the API accepts at most ${BODY_LIMIT_BYTES} bytes)`;
  }
  const message = error.message || 'internal error';
  return statusCode >= 500 ? `internal error: ${message}` : message;
}

/** Refused requests (4xx) are summed up in one line per minute at most; the first shows at once. */
const REJECTED_SUMMARY_MS = 60_000;

/**
 * One line per request at debug. Operations (POSTs that got through) and server errors at info:
 * they are rare and matter. Refused requests at debug, counted in a rate-limited summary.
 */
function requestLogger(log: FastifyInstance['log']) {
  const rejected = new RateLimitedCount(REJECTED_SUMMARY_MS, (counts) =>
    log.warn({ byStatus: counts, intervalS: REJECTED_SUMMARY_MS / 1000 }, 'API requests refused (each at debug level; at most one such line a minute)'),
  );
  return function logRequest(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
    const entry = {
      method: request.method,
      url: pathOf(request.url),
      statusCode: reply.statusCode,
      responseTimeMs: Math.round(reply.elapsedTime * 10) / 10,
    };
    if (reply.statusCode >= 400 && reply.statusCode < 500) {
      request.log.debug(entry, 'API request refused');
      rejected.add(String(reply.statusCode));
    } else if (request.method === 'GET' || request.method === 'HEAD') {
      // Scrapes and status polls (also /healthz answering 503) would flood the journal; a 500 is logged by answerError.
      request.log.debug(entry, 'API request');
    } else request.log.info(entry, 'API request');
    done();
  };
}

function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}

/**
 * The API reads no request bodies, but a client may send one (curl -d, a JSON
 * content type with an empty body): read any type up to the limit, then ignore it.
 */
function acceptAnyBodyWithinLimit(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: BODY_LIMIT_BYTES }, (_request, _body, done) => {
    done(null, undefined);
  });
}

/**
 * Fastify gets a child logger whose serializers print only method, URL and
 * host of a request: never headers, so never the Authorization header.
 */
function loggerOptions(logger: Logger | false | undefined): { loggerInstance?: Logger } {
  if (logger === undefined || logger === false) return {};
  // No bindings of its own: the caller decides (the daemon passes a `component: api` child).
  const apiLogger = logger.child(
    {},
    {
      serializers: { req: safeRequestSerializer },
      redact: { paths: ['headers.authorization', 'req.headers.authorization', 'authorization'], censor: '[redacted]' },
    },
  );
  return { loggerInstance: apiLogger };
}

function safeRequestSerializer(request: { method?: string; url?: string }): Record<string, unknown> {
  return { method: request.method, url: request.url === undefined ? undefined : pathOf(request.url) };
}
