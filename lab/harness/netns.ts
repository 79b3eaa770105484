import { execa, execaSync, type ResultPromise } from 'execa';
import { mkdtempSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DAEMON_NODE_FLAGS } from '../../src/daemon/node-flags.js';
import { sweepDeadNamespaces } from '../harness/netns-lab.js';
import { CLI } from '../harness/paths.js';

/**
 * The benchmark's own namespace lab. Everything it makes is a network namespace named
 * `vxb<pid>...` (so parallel test runs and the test suite's `vxt` sweep never collide
 * with it); nothing is created in, or attached to, the machine's own namespace.
 * Cleanup runs at normal exit, on SIGINT/SIGTERM/SIGHUP and on an uncaught error.
 * Underlay 198.18.0.0/15, overlay 100.64.0.0/10 (DESIGN.md).
 */

export { BENCH_JS, CLI, HTTP_BATCH_JS, ROOT } from '../harness/paths.js';
export const PREFIX = `vxb${process.pid}`;

export async function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await execa(cmd, args, { input: opts.input ?? '', reject: false, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 256 * 1024 * 1024 });
  if (r.failed) throw new Error(`${cmd} ${args.join(' ')} failed (${r.exitCode ?? r.signal ?? 'timeout'}): ${String(r.stderr || r.stdout || r.message).slice(0, 2000)}`);
  return String(r.stdout);
}

export function nsRun(name: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  return run('ip', ['netns', 'exec', name, ...args], opts);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Tracks every namespace and child process the benchmark makes, and removes them. */
export class NetnsRegistry {
  readonly dir: string;
  private readonly namespaces = new Set<string>();
  private readonly procs = new Set<ResultPromise>();
  private counter = 0;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'vxmesh-bench-'));
    const onSignal = (sig: NodeJS.Signals) => {
      process.stderr.write(`\nbench: ${sig}, cleaning up namespaces\n`);
      this.cleanupSync();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.on('SIGHUP', onSignal);
    process.on('exit', () => this.cleanupSync());
  }

  /** A unique namespace name under the benchmark's prefix. */
  name(tag: string): string {
    return `${PREFIX}${tag}${this.counter++}`;
  }

  async addNs(name: string): Promise<string> {
    await run('ip', ['netns', 'add', name]);
    this.namespaces.add(name);
    await nsRun(name, ['ip', 'link', 'set', 'lo', 'up']);
    // The underlay is IPv4: without IPv6 the bridge sends no MLD/RS floods that would add noise.
    await nsRun(name, ['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    return name;
  }

  async delNs(name: string): Promise<void> {
    if (!this.namespaces.delete(name)) return;
    await run('ip', ['netns', 'del', name]).catch(() => undefined);
  }

  /**
   * Start a long-running process inside a namespace; it is killed at cleanup. Output goes to
   * `logFile`, or is piped (unbuffered: the caller reads it) with `pipe`, or is dropped.
   */
  spawn(nsName: string, args: string[], output: { logFile?: string; pipe?: boolean } = {}): ResultPromise {
    const argv = ['netns', 'exec', nsName, ...args];
    let p: ResultPromise;
    if (output.logFile) {
      p = execa('ip', argv, { stdin: 'ignore', stdout: { file: output.logFile, append: true }, stderr: { file: output.logFile, append: true }, reject: false });
    } else {
      p = output.pipe
        ? execa('ip', argv, { stdin: 'ignore', stdout: 'pipe', stderr: 'ignore', buffer: false, reject: false })
        : execa('ip', argv, { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore', reject: false });
    }
    this.procs.add(p);
    void p.finally(() => this.procs.delete(p));
    return p;
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
    for (const n of this.namespaces) execaSync('ip', ['netns', 'del', n], { reject: false });
    this.namespaces.clear();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Remove namespaces left by an earlier benchmark whose process is gone (only `vxb<dead pid>`). */
export function sweepStale(): void {
  sweepDeadNamespaces(/^vxb(\d+)[a-z]/);
}

/** An underlay: one bridge in its own namespace. */
export class Underlay {
  private ports = 0;
  constructor(
    readonly reg: NetnsRegistry,
    readonly ns: string,
  ) {}

  static async create(reg: NetnsRegistry): Promise<Underlay> {
    const name = await reg.addNs(reg.name('u'));
    await nsRun(name, ['ip', 'link', 'add', 'ulbr', 'type', 'bridge']);
    await nsRun(name, ['ip', 'link', 'set', 'ulbr', 'up']);
    return new Underlay(reg, name);
  }

  /** A namespace wired to this underlay on eth0 with the given /16 addresses. */
  async addHost(tag: string, addresses: string[]): Promise<string> {
    const name = await this.reg.addNs(this.reg.name(tag));
    const port = `p${this.ports++}`;
    await run('ip', ['link', 'add', 'eth0', 'netns', name, 'type', 'veth', 'peer', 'name', port, 'netns', this.ns]);
    await nsRun(this.ns, ['ip', 'link', 'set', port, 'master', 'ulbr', 'up']);
    if (addresses.length) await nsRun(name, ['ip', '-batch', '-'], { input: addresses.map((a) => `addr add ${a}/16 dev eth0`).join('\n') + '\n' });
    await nsRun(name, ['ip', 'link', 'set', 'eth0', 'up']);
    return name;
  }
}

/** A "container": a namespace with a veth into `hostNs`'s bridge, overlay MTU. */
export async function addContainer(reg: NetnsRegistry, hostNs: string, address: string, bridge = 'vxbr0', mtu = 1450): Promise<string> {
  const name = await reg.addNs(reg.name('c'));
  await run('ip', ['link', 'add', 'eth0', 'netns', name, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', 'ctr0', 'netns', hostNs, 'mtu', String(mtu)]);
  await nsRun(hostNs, ['ip', 'link', 'set', 'ctr0', 'master', bridge, 'up']);
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
  writeConfig(text: string): number {
    const path = join(this.configDir, 'peers.yaml');
    writeFileSync(`${path}.tmp`, text);
    const t = performance.now();
    renameSync(`${path}.tmp`, path);
    return t;
  }

  start(extra: string[] = []): void {
    this.proc = this.reg.spawn(this.ns, [process.execPath, ...DAEMON_NODE_FLAGS, CLI, 'daemon', '--config', this.configDir, '--state-dir', this.stateDir, '--max-lifetime', '1200', ...extra], { logFile: this.logFile });
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

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    await this.reg.kill(p, 'SIGTERM');
  }
}

/** The peers file for `self` (id 1 unless given) plus remotes. */
export function peersYaml(peers: { name: string; id: number; address: string }[], mesh: Record<string, unknown> = {}): string {
  const meshLines = Object.entries(mesh).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`);
  return [...(meshLines.length ? ['mesh:', ...meshLines] : []), 'peers:', ...peers.map((p) => `  - { name: ${p.name}, id: ${p.id}, address: ${p.address} }`)].join('\n') + '\n';
}
