import type { Server } from 'node:http';
import { RateLimitedCount } from './rate-limited-log.js';

/**
 * Any local user can open connections to the API. Without a cap, idle ones use up the daemon's
 * file descriptors until spawning `ip` fails (EMFILE) and repair stops. Per listener; beyond
 * the cap the kernel's connection is accepted and closed at once. Clients send one small
 * request: short timeouts free the slots of silent or slow-loris connections (the headers
 * timeout also covers a connection that sends nothing at all).
 */
export const API_LIMITS = {
  maxConnections: 256,
  /** Whole request (headers and body) must arrive within this. */
  requestTimeoutMs: 10_000,
  headersTimeoutMs: 5_000,
  keepAliveTimeoutMs: 5_000,
} as const;
// No socket idle timeout: an operation may take minutes (start on a large mesh) with nothing
// on the wire; a connection that sends nothing is closed by the headers timeout anyway.

/** Options for http.createServer: the timeouts above, checked every second (default 30 s). */
export const HTTP_SERVER_OPTIONS = {
  headersTimeout: API_LIMITS.headersTimeoutMs,
  requestTimeout: API_LIMITS.requestTimeoutMs,
  keepAliveTimeout: API_LIMITS.keepAliveTimeoutMs,
  connectionsCheckingInterval: 1000,
} as const;

interface WarnLog {
  warn(obj: object, msg: string): void;
}

/** The connection cap on a listening server; dropped connections are logged at most once a minute. */
export function limitConnections(server: Server, log: WarnLog | undefined): void {
  server.maxConnections = API_LIMITS.maxConnections;
  const dropped = new RateLimitedCount(60_000, (counts) => log?.warn({ dropped: counts.drop, maxConnections: API_LIMITS.maxConnections }, 'API connection limit reached; connections dropped'));
  server.on('drop', () => dropped.add('drop'));
}
