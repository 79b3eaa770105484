/**
 * The API's sockets, without the API: plain node:http servers on the loopback addresses,
 * opened first thing at daemon start. They hold the port (a second daemon fails here, having
 * touched nothing) and accept connections at once; requests wait until the API's handler is
 * attached, which the daemon does once its first reconcile is under way, so loading the HTTP
 * framework does not delay the mesh.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { HTTP_SERVER_OPTIONS, limitConnections } from './limits.js';

export interface LoopbackListener {
  /** The port every address listens on (useful with port 0). */
  readonly port: number;
  /** The HTTP servers, one per address (each with the connection cap). */
  readonly servers: readonly Server[];
  /** Where requests go from now on; requests that arrived before are handed over in order. */
  attach(handler: RequestListener): void;
  close(): Promise<void>;
}

type WarnLog = Parameters<typeof limitConnections>[1] & object;

/** Requests held while nothing is attached; beyond this the API answers 503 at once. */
const MAX_WAITING = 256;

/** 127.0.0.0/8 or ::1 (also as an IPv4-mapped IPv6 address). */
export function isLoopbackAddress(address: string): boolean {
  const version = isIP(address);
  if (version === 4) return address.startsWith('127.');
  if (version !== 6) return false;
  const lower = address.toLowerCase();
  if (lower === '::1' || lower === '0:0:0:0:0:0:0:1') return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  return mapped?.[1] !== undefined && isLoopbackAddress(mapped[1]);
}

/**
 * Listens on every given loopback address with one port. An address this host does not have
 * (::1 with IPv6 disabled, as in some namespaces) is skipped with a warning as long as one
 * address listens; anything else fails.
 */
/** Where requests go: held while nothing is attached, handed over in order when something is. */
export interface Router {
  readonly route: RequestListener;
  attach(handler: RequestListener): void;
  /** Answer the held requests 503. */
  drain(): void;
}

export function createRouter(): Router {
  let handler: RequestListener | undefined;
  const waiting: [IncomingMessage, ServerResponse][] = [];
  return {
    route(req, res) {
      if (handler) return handler(req, res);
      if (waiting.length >= MAX_WAITING) {
        res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '1' }).end('{"error":"the daemon is starting"}');
        return;
      }
      waiting.push([req, res]);
    },
    attach(h) {
      handler = h;
      for (const [req, res] of waiting.splice(0)) h(req, res);
    },
    drain() {
      for (const [, res] of waiting.splice(0)) res.writeHead(503).end();
    },
  };
}

/**
 * Listens on every given loopback address with one port. An address this host does not have
 * (::1 with IPv6 disabled, as in some namespaces) is skipped with a warning as long as one
 * address listens; anything else fails (the error's `code` is the system's, e.g. EADDRINUSE).
 */
export async function listenLoopback(host: string | readonly string[], port: number, log?: WarnLog, router: Router = createRouter()): Promise<LoopbackListener> {
  const [first, ...rest] = expandHosts(host);
  if (first === undefined) throw new Error('the API needs at least one address to listen on');
  const servers: Server[] = [await listenOne(router.route, first, port, log)];
  const bound = (servers[0]!.address() as { port: number }).port;
  for (const h of rest) {
    try {
      servers.push(await listenOne(router.route, h, bound, log));
    } catch (err) {
      if (!isAddressUnavailable(err)) {
        await Promise.all(servers.map(closeServer));
        throw listenError(err, h, bound);
      }
      log?.warn({ host: h, port: bound, code: (err as NodeJS.ErrnoException).code }, 'API address not available on this host; skipped');
    }
  }
  return {
    port: bound,
    servers,
    attach: (h) => router.attach(h),
    async close() {
      router.drain();
      await Promise.all(servers.map(closeServer));
    },
  };
}

function expandHosts(host: string | readonly string[]): string[] {
  const given = typeof host === 'string' ? [host] : [...host];
  const expanded = given.flatMap((h) => (h.toLowerCase() === 'localhost' ? ['127.0.0.1', '::1'] : [stripBrackets(h)]));
  for (const address of expanded) {
    if (!isLoopbackAddress(address)) {
      throw new Error(`the API listens on loopback addresses only (127.x.y.z, ::1); refusing ${address}`);
    }
  }
  // IPv4 first: 127.0.0.1 always exists, so the first server is the one that cannot be skipped.
  const unique = [...new Set(expanded)];
  return [...unique.filter((a) => isIP(a) === 4), ...unique.filter((a) => isIP(a) === 6)];
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

async function listenOne(route: RequestListener, host: string, port: number, log: WarnLog | undefined): Promise<Server> {
  const server = createServer(HTTP_SERVER_OPTIONS, route);
  limitConnections(server, log);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: unknown) => {
    if (isAddressUnavailable(err)) throw err;
    throw listenError(err, host, port);
  });
  return server;
}

function isAddressUnavailable(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT';
}

function listenError(err: unknown, host: string, port: number): Error {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const e: NodeJS.ErrnoException =
    code === 'EADDRINUSE'
      ? new Error(`cannot listen on ${where}: the address is in use (is another vxmesh daemon running?)`)
      : new Error(`cannot listen on ${where}: ${err instanceof Error ? err.message : String(err)}`);
  if (code !== undefined) e.code = code;
  return e;
}

export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
