import { pino } from 'pino';
import { buildServer, listenApi } from '../api/server.js';
import { ensureToken } from '../api/token.js';
import { Daemon } from '../daemon/daemon.js';
import type { CommonOptions } from './options.js';

/** `vxmesh daemon`: run until SIGTERM/SIGINT. Exiting leaves the data plane up. */
export async function runDaemon(common: CommonOptions, opts: { resyncMs: number; maxLifetimeMs: number | undefined }): Promise<number> {
  // VXMESH_LOG_LEVEL=debug (or trace: every command with its duration) for troubleshooting.
  const log = pino({ base: { service: 'vxmesh' }, level: process.env.VXMESH_LOG_LEVEL ?? 'info' });
  const daemon = new Daemon({ configDir: common.configDir, stateDir: common.stateDir, node: common.node, log, resyncMs: opts.resyncMs });
  const { token, path, fixedMode, fixedDirMode } = await ensureToken(common.stateDir);
  if (fixedMode !== null || fixedDirMode !== null) {
    const octal = (m: number | null) => (m === null ? undefined : `0${m.toString(8)}`);
    log.warn({ tokenFile: path, tokenFileModeWas: octal(fixedMode), stateDirModeWas: octal(fixedDirMode) }, 'API token file or state directory was readable by others; tightened to 0600 / 0700');
  }
  const app = buildServer({ control: daemon, token, tokenPath: path, logger: log.child({ component: 'api' }) });
  // The default address also listens on [::1]: `curl localhost:7789` may resolve either way.
  const hosts = common.api.host === '127.0.0.1' ? ['127.0.0.1', '::1'] : [common.api.host];
  // The API listens before the daemon starts anything: a second daemon (port in use) exits
  // here, having touched nothing, instead of running headless next to the first.
  try {
    await listenApi(app, { hosts, port: common.api.port });
  } catch (err) {
    await app.close().catch(() => undefined);
    throw err;
  }
  try {
    await daemon.run();
  } catch (err) {
    // Without its loop the daemon must not look alive to systemd: exit non-zero, mesh untouched.
    await Promise.allSettled([app.close(), daemon.close()]);
    throw err;
  }
  log.info({ api: hosts.map((h) => `${h.includes(':') ? `[${h}]` : h}:${common.api.port}`), config: common.configDir, node: common.node ?? '(by local address)' }, 'vxmesh daemon running');

  return new Promise<number>((resolve) => {
    let closing = false;
    const shutdown = (why: string) => {
      if (closing) return;
      closing = true;
      log.info({ why }, 'daemon exiting; the mesh stays up');
      void Promise.allSettled([app.close(), daemon.close()]).then(() => resolve(0));
    };
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
