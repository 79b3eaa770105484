import { listenLocal, type LocalListener } from '../api/local-listener.js';
import { apiSocketPath } from '../api/run-dir.js';
import { ensureToken } from '../api/token.js';
import { Daemon } from '../daemon/daemon.js';
import { createDaemonLogger } from '../daemon/log.js';
import type { Logger } from 'pino';
import type { CommonOptions } from './options.js';

/** How long the first reconcile runs alone before the API server is loaded beside it. */
const API_LOAD_HEAD_START_MS = 2000;

/** `vxmesh daemon`: run until SIGTERM/SIGINT. Exiting leaves the data plane up. */
export async function runDaemon(common: CommonOptions, opts: { resyncMs: number; maxLifetimeMs: number | undefined }): Promise<number> {
  // VXMESH_LOG_LEVEL=debug (or trace: every command with its duration) for troubleshooting.
  const log = createDaemonLogger(process.env.VXMESH_LOG_LEVEL ?? 'info');
  const daemon = new Daemon({ configDir: common.configDir, stateDir: common.stateDir, node: common.node, log, resyncMs: opts.resyncMs });
  const { token, path, fixedMode, fixedDirMode } = await ensureToken(common.stateDir);
  if (fixedMode !== null || fixedDirMode !== null) {
    const octal = (m: number | null) => (m === null ? undefined : `0${m.toString(8)}`);
    log.warn({ tokenFile: path, tokenFileModeWas: octal(fixedMode), stateDirModeWas: octal(fixedDirMode) }, 'API token file or state directory was readable by others; tightened to 0600 / 0700');
  }
  // The default address also listens on [::1]: `curl localhost:7789` may resolve either way.
  const hosts = common.api.host === '127.0.0.1' ? ['127.0.0.1', '::1'] : [common.api.host];
  const apiLog = log.child({ component: 'api' });
  // The API's sockets open before the daemon starts anything: a second daemon (its Unix socket
  // answered) exits here, having touched nothing, instead of running headless next to the first.
  const listener = await listenLocal({ socketPath: apiSocketPath(common.runDir), hosts, port: common.api.port, log: apiLog });
  try {
    await daemon.run();
  } catch (err) {
    // Without its loop the daemon must not look alive to systemd: exit non-zero, mesh untouched.
    await Promise.allSettled([listener.close(), daemon.close()]);
    throw err;
  }
  log.info({ api: listener.tcp ? hosts.map((h) => `${h.includes(':') ? `[${h}]` : h}:${listener.tcp!.port}`) : [], socket: listener.socketPath, config: common.configDir, node: common.node ?? '(by local address)' }, 'vxmesh daemon running');

  return new Promise<number>((resolve, reject) => {
    let closing = false;
    let closeApi: () => Promise<unknown> = () => listener.close();
    const shutdown = (why: string, failure?: unknown) => {
      if (closing) return;
      closing = true;
      log.info({ why }, 'daemon exiting; the mesh stays up');
      void Promise.allSettled([closeApi(), daemon.close()]).then(() => (failure === undefined ? resolve(0) : reject(failure)));
    };
    // The HTTP framework loads while the first reconcile waits on the kernel; requests that
    // arrive meanwhile wait in the listener.
    void Promise.race([daemon.firstSync(), new Promise((r) => setTimeout(r, API_LOAD_HEAD_START_MS).unref())])
      .then(() => serveApi(listener, daemon, token, path, apiLog))
      .then(
        (close) => {
          closeApi = close;
          if (closing) void close();
        },
        (err: unknown) => {
          log.fatal({ err: err instanceof Error ? err.message : String(err) }, 'the control API could not be started');
          shutdown('control API failed', err);
        },
      );
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
    process.on('SIGHUP', () => {
      // Each error of the reload was logged where it happened: here only the summary.
      daemon.reload().then(
        (r) => log.info({ ok: r.ok, changes: r.changes.length, errors: r.errors.length }, 'reloaded on SIGHUP'),
        (err: unknown) => log.error({ err }, 'reload on SIGHUP failed'),
      );
    });
    if (opts.maxLifetimeMs !== undefined) setTimeout(() => shutdown('max lifetime reached'), opts.maxLifetimeMs).unref();
  });
}

/** Load the API server and attach it to the open sockets; returns how to close it. */
async function serveApi(listener: LocalListener, daemon: Daemon, token: string, tokenPath: string, log: Logger): Promise<() => Promise<unknown>> {
  const { buildServer, serveOn } = await import('../api/server.js');
  const app = buildServer({ control: daemon, token, tokenPath, logger: log, apiProblems: () => listener.problems() });
  await serveOn(app, listener);
  log.info({ port: listener.tcp?.port ?? null, socket: listener.socketPath }, 'API serving');
  return () => app.close();
}
