import { execaSync, type ResultPromise } from 'execa';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nsRun, sleep, type NetnsRegistry } from './netns.js';

/**
 * One FRR (zebra + bgpd, Debian's frr package) inside a lab namespace, in its own pathspace
 * (`-N <name>`: sockets under /var/run/frr/<name>/), with no config file of its own: config goes
 * in through vtysh, as vxmesh applies it. Both daemons run in the foreground as children of the
 * lab's registry, so cleanup kills them (also when a test fails, and at process exit), then
 * removes the run directory. The machine's own FRR (its /etc/frr, its service) is never used.
 */
export const FRR_BIN = '/usr/lib/frr';
const MAX_LIFETIME_S = 1200;

function killByPidFile(pidFile: string, pathspace: string): void {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (!pid || !cmdline.includes(pathspace)) return;
  } catch {
    return; // no pid file, or the process is gone
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone meanwhile
  }
}
const RUN_ROOT = '/var/run/frr';

export class FrrInstance {
  readonly runDir: string;
  readonly logFile: string;
  private readonly procs = new Map<'zebra' | 'bgpd', ResultPromise>();

  constructor(
    private readonly reg: NetnsRegistry,
    readonly ns: string,
    readonly pathspace: string = ns,
  ) {
    this.runDir = join(RUN_ROOT, pathspace);
    this.logFile = join(reg.dir, `${ns}-frr.log`);
  }

  /** Fails loudly, naming what is missing, when FRR is not installed. */
  static requireInstalled(): void {
    for (const f of ['zebra', 'bgpd']) if (!existsSync(join(FRR_BIN, f))) throw new Error(`FRR is not installed: ${join(FRR_BIN, f)} is missing (apt-get install frr; scripts/deps-debian.sh)`);
    if (execaSync('vtysh', ['--help'], { reject: false }).exitCode !== 0) throw new Error('vtysh (package frr) is not installed or does not run');
  }

  async start(): Promise<void> {
    if (!existsSync(this.runDir)) {
      mkdirSync(this.runDir, { recursive: true });
      const dir = this.runDir;
      this.reg.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    }
    // The daemons drop to user frr and create their sockets here.
    execaSync('chown', ['frr:frr', this.runDir]);
    writeFileSync(this.logFile, '');
    for (const d of ['zebra', 'bgpd'] as const) await this.startDaemon(d);
  }

  /** Start one daemon and wait for its vty socket (vtysh reaches it then). */
  async startDaemon(d: 'zebra' | 'bgpd'): Promise<void> {
    const sock = join(this.runDir, `${d}.vty`);
    rmSync(sock, { force: true });
    // -P 0: no TCP vty; -f /dev/null: no config file, everything comes through vtysh.
    // `timeout`: a daemon outlives no test run by long, even when the runner itself is killed.
    const pidFile = join(this.runDir, `${d}.pid`);
    const p = this.reg.spawn(this.ns, ['timeout', String(MAX_LIFETIME_S), join(FRR_BIN, d), '-N', this.pathspace, '-f', '/dev/null', '-i', pidFile, '-P', '0', '--log', 'stdout', '--log-level', 'informational'], { logFile: this.logFile });
    this.procs.set(d, p);
    // Killing `timeout` with SIGKILL (the registry's cleanup) would leave the daemon: end it by
    // its own pid too, once it is known to be this instance's daemon (its command line names the pathspace).
    this.reg.onCleanup(() => killByPidFile(pidFile, this.pathspace));
    for (let i = 0; !existsSync(sock); i++) {
      if (p.exitCode !== undefined && p.exitCode !== null) throw new Error(`${d} in ${this.ns} exited (${p.exitCode}); see ${this.logFile}`);
      if (i > 200) throw new Error(`${d} in ${this.ns} made no vty socket in 10 s`);
      await sleep(50);
    }
  }

  /** Stop a daemon (SIGTERM: zebra then removes what it installed; SIGKILL: it cannot). */
  async stopDaemon(d: 'zebra' | 'bgpd', signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = this.procs.get(d);
    this.procs.delete(d);
    await this.reg.kill(p, signal);
  }

  async stop(): Promise<void> {
    await this.stopDaemon('bgpd');
    await this.stopDaemon('zebra');
  }

  /** vtysh commands (each a `-c`) against this instance; the output. */
  vtysh(...commands: string[]): Promise<string> {
    return nsRun(this.ns, ['vtysh', '-N', this.pathspace, ...commands.flatMap((c) => ['-c', c])]);
  }

  /** Apply config text (as in frr.conf) through vtysh; fails at the first line vtysh refuses. */
  configure(text: string): Promise<string> {
    const lines = text.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('!'));
    return this.vtysh(['configure terminal', ...lines].join('\n'));
  }

  async json(command: string): Promise<any> {
    return JSON.parse(await this.vtysh(command));
  }
}
