/**
 * Every socket the daemon's API answers on: the Unix socket (the CLI's channel, required) and
 * the loopback TCP addresses (curl and monitoring). Port 7789 is unprivileged, so someone else
 * may hold it; the daemon then still serves the socket and says so in its log and status
 * instead of refusing to start (which would leave the squatter answering for it).
 */
import { createRouter, listenLoopback, type LoopbackListener } from './listen.js';
import { listenUnix } from './unix-socket.js';
import type { RequestListener } from 'node:http';

interface Log {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface LocalListener {
  readonly socketPath: string;
  /** Null when the TCP address could not be had (see problems). */
  readonly tcp: LoopbackListener | null;
  /** Status reasons about the API's own sockets. */
  problems(): string[];
  attach(handler: RequestListener): void;
  close(): Promise<void>;
}

export async function listenLocal(opts: { socketPath: string; hosts: readonly string[]; port: number; log: Log }): Promise<LocalListener> {
  const router = createRouter();
  // First: a second daemon with this run dir fails here, having touched nothing.
  const unix = await listenUnix(opts.socketPath, router, opts.log);
  let tcp: LoopbackListener | null = null;
  let problem: string | null = null;
  try {
    tcp = await listenLoopback(opts.hosts, opts.port, opts.log, router);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
      await unix.close();
      throw err;
    }
    problem =
      `API port ${opts.port} is held by another process (not this daemon): whatever answers there is not vxmesh; ` +
      `the API is served on ${opts.socketPath} only (find the holder with \`ss -ltnp sport = :${opts.port}\`)`;
    opts.log.error({ port: opts.port, socket: opts.socketPath }, problem);
  }
  return {
    socketPath: opts.socketPath,
    tcp,
    problems: () => (problem === null ? [] : [problem]),
    attach: (h) => router.attach(h),
    async close() {
      router.drain();
      await Promise.all([unix.close(), tcp?.close()]);
    },
  };
}
