import { execa, execaSync, type ResultPromise } from 'execa';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DAEMON_NODE_FLAGS } from '../../src/daemon/node-flags.js';
import { DEFAULT_BRIDGE } from '../../src/model/names.js';
import { CLI } from './paths.js';

/**
 * The one namespace harness of the tests, the demo and the benchmark: a registry of the
 * namespaces and processes a run makes (all removed at cleanup, at exit too), an underlay
 * bridge in its own namespace, hosts wired to it, "containers" on a host's bridge, and vxmesh
 * daemon hosts with their config and state directories. Everything lives in network
 * namespaces named under the caller's prefix; nothing is created in, or attached to, the
 * machine's own namespace. Underlay 198.18.0.0/15, overlay 100.64.0.0/10 (../shared/DESIGN.md).
 */

export type RunOptions = { input?: string; timeoutMs?: number };

/** Run a command; throws with its exit code and output when it fails. `opts` may be the input. */
export async function run(cmd: string, args: string[], opts: RunOptions | string = {}): Promise<string> {
  const o = typeof opts === 'string' ? { input: opts } : opts;
  const r = await execa(cmd, args, { input: o.input ?? '', reject: false, timeout: o.timeoutMs ?? 120_000, maxBuffer: 256 * 1024 * 1024 });
  if (r.failed) throw new Error(`${cmd} ${args.join(' ')} failed (${r.exitCode ?? r.signal ?? 'timeout'}): ${String(r.stderr || r.stdout || r.message)}`);
  return String(r.stdout);
}

export function nsRun(name: string, args: string[], opts: RunOptions = {}): Promise<string> {
  return run('ip', ['netns', 'exec', name, ...args], opts);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Tracks every namespace and child process a run makes under `prefix`, and removes them. */
export class NetnsRegistry {
  readonly dir: string;
  private readonly namespaces = new Set<string>();
  private readonly procs = new Set<ResultPromise>();
  /** Undo steps outside the namespaces (an FRR instance's run directory), run at cleanup after the processes are gone. */
  private readonly undo: (() => void)[] = [];
  private counter = 0;
  private readonly onExit = () => this.cleanupSync();

  /** With `signals`, SIGINT/SIGTERM/SIGHUP clean up and exit (the benchmark, the demo's own handlers aside). */
  constructor(
    readonly prefix: string,
    tmpPrefix = 'vxmesh-netns-',
    opts: { signals?: boolean } = {},
  ) {
    this.dir = mkdtempSync(join(tmpdir(), tmpPrefix));
    process.on('exit', this.onExit);
    if (opts.signals) {
      const onSignal = (sig: NodeJS.Signals) => {
        process.stderr.write(`\n${sig}: cleaning up namespaces\n`);
        this.cleanupSync();
        process.exit(sig === 'SIGINT' ? 130 : 143);
      };
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);
    }
  }

  /** A unique namespace name under the prefix. */
  name(tag: string): string {
    return `${this.prefix}${tag}${this.counter++}`;
  }

  async addNs(name: string, opts: { ipv6?: boolean } = {}): Promise<string> {
    await run('ip', ['netns', 'add', name]);
    this.namespaces.add(name);
    await nsRun(name, ['ip', 'link', 'set', 'lo', 'up']);
    // Without IPv6 a namespace sends no MLD/RS floods that would add noise to counts.
    if (!opts.ipv6) await nsRun(name, ['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    return name;
  }

  async delNs(name: string): Promise<void> {
    if (!this.namespaces.delete(name)) return;
    killNamespacePids(name);
    await run('ip', ['netns', 'del', name]).catch(() => undefined);
  }

  /**
   * Start a long-running process inside a namespace; it is killed at cleanup. Output goes to
   * `logFile`, or is piped (unbuffered: the caller reads it) with `pipe`, or is dropped.
   */
  spawn(nsName: string, args: string[], output: { logFile?: string; pipe?: boolean; env?: Record<string, string> } = {}): ResultPromise {
    const argv = ['netns', 'exec', nsName, ...args];
    const env = output.env ?? {};
    let p: ResultPromise;
    if (output.logFile) {
      // The log file itself is the process's stdout (not a pipe through this process), as the
      // journal's socket is under systemd: the daemon can tell it by its device and inode.
      // (execa takes any file descriptor; its types accept only literal numbers, hence the cast.)
      const fd = openSync(output.logFile, 'a') as 3;
      try {
        p = execa('ip', argv, { env, stdin: 'ignore', stdout: fd, stderr: fd, reject: false });
      } finally {
        closeSync(fd);
      }
    } else {
      p = output.pipe
        ? execa('ip', argv, { env, stdin: 'ignore', stdout: 'pipe', stderr: 'ignore', buffer: false, reject: false })
        : execa('ip', argv, { env, stdin: 'ignore', stdout: 'ignore', stderr: 'ignore', reject: false });
    }
    this.procs.add(p);
    void p.finally(() => this.procs.delete(p));
    return p;
  }

  /** Register a synchronous undo step for cleanup (it also runs at process exit). */
  onCleanup(u: () => void): void {
    this.undo.push(u);
  }

  async kill(p: ResultPromise | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!p) return;
    p.kill(signal);
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    await p;
    clearTimeout(t);
  }

  cleanupSync(): void {
    for (const p of this.procs) p.kill('SIGKILL');
    this.procs.clear();
    for (const u of this.undo.splice(0).reverse()) {
      try {
        u();
      } catch {
        // best effort: the namespaces still go
      }
    }
    // Processes a daemon started that outlive it (wireguard-go detaches on purpose): ended by
    // their ids before their namespace goes, so none of their devices is left behind.
    for (const n of this.namespaces) killNamespacePids(n);
    for (const n of this.namespaces) execaSync('ip', ['netns', 'del', n], { reject: false });
    this.namespaces.clear();
    rmSync(this.dir, { recursive: true, force: true });
    process.off('exit', this.onExit);
  }
}

/** SIGKILL every process in network namespace `name` (by id, as `ip netns pids` lists them). */
export function killNamespacePids(name: string): void {
  const pids = execaSync('ip', ['netns', 'pids', name], { reject: false }).stdout.split(/\s+/).map(Number).filter((p) => Number.isInteger(p) && p > 1 && p !== process.pid);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** An underlay: one bridge `ulbr` in its own namespace. */
export class Underlay {
  private ports = 0;
  constructor(
    readonly reg: NetnsRegistry,
    readonly ns: string,
  ) {}

  static async create(reg: NetnsRegistry, name = reg.name('u'), opts: { ipv6?: boolean } = {}): Promise<Underlay> {
    await reg.addNs(name, opts);
    await nsRun(name, ['ip', 'link', 'add', 'ulbr', 'type', 'bridge']);
    await nsRun(name, ['ip', 'link', 'set', 'ulbr', 'up']);
    return new Underlay(reg, name);
  }

  /**
   * A namespace wired to this underlay on eth0 with the given addresses (bare ones get /16).
   * `tag` is a name tag under the registry's prefix, or with `opts.port` the full name.
   */
  async addHost(tag: string, addresses: string[], opts: { port?: string; mtu?: number; ipv6?: boolean } = {}): Promise<string> {
    const name = opts.port ? tag : this.reg.name(tag);
    await this.reg.addNs(name, { ipv6: opts.ipv6 });
    const port = opts.port ?? `p${this.ports++}`;
    const mtu = opts.mtu === undefined ? [] : ['mtu', String(opts.mtu)];
    await run('ip', ['link', 'add', 'eth0', 'netns', name, ...mtu, 'type', 'veth', 'peer', 'name', port, 'netns', this.ns, ...mtu]);
    await nsRun(this.ns, ['ip', 'link', 'set', port, 'master', 'ulbr', 'up']);
    await nsRun(name, ['ip', 'link', 'set', 'eth0', 'up']);
    const lines = addresses.map((a) => `addr add ${a.includes('/') ? a : `${a}/16`} dev eth0${a.includes(':') ? ' nodad' : ''}`);
    if (lines.length) await nsRun(name, ['ip', '-batch', '-'], { input: lines.join('\n') + '\n' });
    return name;
  }
}

/** A "container": a namespace with a veth into `hostNs`'s bridge, the overlay MTU, `address`/24. */
export async function addContainer(reg: NetnsRegistry, hostNs: string, address: string, opts: { name?: string; hostPort?: string; bridge?: string; mtu?: number } = {}): Promise<string> {
  const name = await reg.addNs(opts.name ?? reg.name('c'));
  const mtu = String(opts.mtu ?? 1450);
  const port = opts.hostPort ?? 'ctr0';
  await run('ip', ['link', 'add', 'eth0', 'netns', name, 'mtu', mtu, 'type', 'veth', 'peer', 'name', port, 'netns', hostNs, 'mtu', mtu]);
  await nsRun(hostNs, ['ip', 'link', 'set', port, 'master', opts.bridge ?? DEFAULT_BRIDGE, 'up']);
  await nsRun(name, ['ip', 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
  await nsRun(name, ['ip', 'link', 'set', 'eth0', 'up']);
  return name;
}

/** A vxmesh server: config and state directories, and the real daemon running in its namespace. */
export class DaemonHost {
  readonly configDir: string;
  readonly stateDir: string;
  readonly logFile: string;
  proc: ResultPromise | undefined;

  constructor(
    readonly reg: NetnsRegistry,
    readonly ns: string,
  ) {
    const base = join(reg.dir, ns);
    this.configDir = join(base, 'etc');
    this.stateDir = join(base, 'state');
    this.logFile = join(base, 'daemon.log');
    mkdirSync(join(this.configDir, 'peers.d'), { recursive: true });
  }

  /** Rename-over, as editors and Ansible save. Returns the moment of the rename. */
  writeConfig(text: string, file = 'peers.yaml'): number {
    const path = join(this.configDir, file);
    writeFileSync(`${path}.tmp`, text);
    const t = performance.now();
    renameSync(`${path}.tmp`, path);
    return t;
  }

  start(extra: string[] = [], opts: { env?: Record<string, string>; maxLifetimeS?: number } = {}): void {
    const lifetime = String(opts.maxLifetimeS ?? 1200);
    this.proc = this.reg.spawn(this.ns, [...programArgv(), 'daemon', '--config', this.configDir, '--state-dir', this.stateDir, '--max-lifetime', lifetime, ...extra], { logFile: this.logFile, env: opts.env });
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  async waitRunning(timeoutMs = 20_000): Promise<void> {
    const start = Date.now();
    while (!this.log().includes('vxmesh daemon running')) {
      if (Date.now() - start > timeoutMs) throw new Error(`daemon in ${this.ns} did not start: ${this.log().slice(-2000)}`);
      if (this.proc && this.proc.exitCode !== undefined && this.proc.exitCode !== null) throw new Error(`daemon in ${this.ns} exited: ${this.log().slice(-2000)}`);
      await sleep(25);
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    await this.reg.kill(p, signal);
  }
}

export interface PeerEntry {
  name: string;
  id: number;
  address: string;
}

/**
 * The one peers-file writer: optional mesh settings, the peers, and `extra` text on the line
 * after them (an empty line when there is none: tests count lines from it).
 */
export function peersYaml(peers: PeerEntry[], mesh: Record<string, unknown> = {}, extra = ''): string {
  const meshLines = Object.entries(mesh).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`);
  return [...(meshLines.length ? ['mesh:', ...meshLines] : []), 'peers:', ...peers.map((p) => `  - { name: ${p.name}, id: ${p.id}, address: "${p.address}" }`), extra].join('\n') + '\n';
}

/**
 * Remove namespaces a crashed earlier run left: those whose name matches `pattern` (group 1
 * is the pid of the process that made them) and whose process is gone. A concurrent run's
 * namespaces are left alone.
 */
export function sweepDeadNamespaces(pattern: RegExp): void {
  const list = execaSync('ip', ['netns', 'list'], { reject: false }).stdout;
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const pid = Number(pattern.exec(name)?.[1]);
    if (pid && pid !== process.pid && !processAlive(pid)) execaSync('ip', ['netns', 'del', name], { reject: false });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The vxmesh program to start: VXMESH_BENCH_PROGRAM (e.g. the packaged single executable,
 * which takes no node flags) or, by default, the built CLI under this node with the flags the
 * unit gives it.
 */
export function programArgv(): string[] {
  const program = process.env.VXMESH_BENCH_PROGRAM;
  return program ? [program] : [process.execPath, ...DAEMON_NODE_FLAGS, CLI];
}

export function programLabel(): string {
  return process.env.VXMESH_BENCH_PROGRAM ? `executable ${process.env.VXMESH_BENCH_PROGRAM}` : `node ${DAEMON_NODE_FLAGS.join(' ')} dist/cli/main.js`;
}
