import { execa, execaSync, type ResultPromise } from 'execa';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DAEMON_NODE_FLAGS } from '../../src/daemon/node-flags.js';

/**
 * A lab of "servers" (network namespaces on one underlay bridge that lives in its own
 * namespace), each running the real vxmesh daemon, with "containers" (more namespaces)
 * on each server's vxbr0. Nothing is created in the machine's own namespace; every
 * namespace is removed by cleanup(), which also runs at process exit.
 * Underlay: 198.18.0.0/15; overlay: 100.64.0.0/10 (DESIGN.md).
 */

import { CLI } from './paths.js';
export { CLI };
export let LAB_PREFIX = 'vxt';

/** Demo and benchmark labs use their own prefix, so the test suite's sweep never touches them. */
export function setLabPrefix(prefix: string): void {
  LAB_PREFIX = prefix;
}
let labCounter = 0;

export async function run(cmd: string, args: string[], input?: string): Promise<string> {
  const r = await execa(cmd, args, { input: input ?? '', reject: false, timeout: 60_000 });
  if (r.failed) throw new Error(`${cmd} ${args.join(' ')} failed (${r.exitCode}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

export function ns(name: string, ...cmd: string[]): Promise<string> {
  return run('ip', ['netns', 'exec', name, ...cmd]);
}

export interface Server {
  index: number;
  ns: string;
  address: string;
  configDir: string;
  stateDir: string;
  logFile: string;
  daemon: ResultPromise | undefined;
}

export interface Container {
  ns: string;
  address: string;
  server: Server;
}

export class Lab {
  readonly prefix: string;
  readonly underlay: string;
  readonly dir: string;
  readonly servers: Server[] = [];
  readonly containers: Container[] = [];
  private readonly namespaces: string[] = [];
  private exitHook = () => this.cleanupSync();

  constructor() {
    this.prefix = `${LAB_PREFIX}${process.pid}x${labCounter++}`;
    this.underlay = `${this.prefix}ul`;
    this.dir = mkdtempSync(join(tmpdir(), 'vxmesh-lab-'));
    process.on('exit', this.exitHook);
  }

  private async addNs(name: string): Promise<void> {
    await run('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    await ns(name, 'ip', 'link', 'set', 'lo', 'up');
  }

  /** The underlay: one bridge in its own namespace. */
  async init(): Promise<void> {
    await this.addNs(this.underlay);
    await ns(this.underlay, 'ip', 'link', 'add', 'ulbr', 'type', 'bridge');
    await ns(this.underlay, 'ip', 'link', 'set', 'ulbr', 'up');
  }

  /** A server namespace wired to the underlay with address 198.18.0.<index> on eth0. */
  async addServer(index: number, opts: { withAddress?: boolean; family?: 4 | 6; mtu?: number } = {}): Promise<Server> {
    const name = `${this.prefix}s${index}`;
    await this.addNs(name);
    const mtu = String(opts.mtu ?? 1500);
    await run('ip', ['link', 'add', 'eth0', 'netns', name, 'mtu', mtu, 'type', 'veth', 'peer', 'name', `s${index}`, 'netns', this.underlay, 'mtu', mtu]);
    await ns(this.underlay, 'ip', 'link', 'set', `s${index}`, 'master', 'ulbr', 'up');
    await ns(name, 'ip', 'link', 'set', 'eth0', 'up');
    // IPv6 underlays use 2001:2::/48, the IPv6 benchmarking range (RFC 5180).
    const address = opts.family === 6 ? `2001:2::${index}` : `198.18.0.${index}`;
    const prefix = opts.family === 6 ? `${address}/64` : `${address}/24`;
    if (opts.withAddress !== false) await ns(name, 'ip', 'addr', 'add', prefix, 'dev', 'eth0', ...(opts.family === 6 ? ['nodad'] : []));
    const configDir = join(this.dir, name, 'etc');
    const stateDir = join(this.dir, name, 'state');
    mkdirSync(join(configDir, 'peers.d'), { recursive: true });
    const server: Server = { index, ns: name, address, configDir, stateDir, logFile: join(this.dir, `${name}.log`), daemon: undefined };
    this.servers.push(server);
    return server;
  }

  /** A plain host on the underlay (no config, no daemon): an attacker or a legacy server. */
  async addUnderlayHost(suffix: string, address: string): Promise<string> {
    const name = `${this.prefix}${suffix}`;
    await this.addNs(name);
    await run('ip', ['link', 'add', 'eth0', 'netns', name, 'type', 'veth', 'peer', 'name', suffix, 'netns', this.underlay]);
    await ns(this.underlay, 'ip', 'link', 'set', suffix, 'master', 'ulbr', 'up');
    await ns(name, 'ip', 'link', 'set', 'eth0', 'up');
    await ns(name, 'ip', 'addr', 'add', `${address}/24`, 'dev', 'eth0');
    return name;
  }

  writeConfig(server: Server, text: string, file = 'peers.yaml'): void {
    // Rename-over, as editors and Ansible save.
    const path = join(server.configDir, file);
    writeFileSync(`${path}.tmp`, text);
    execaSync('mv', [`${path}.tmp`, path]);
  }

  startDaemon(server: Server, extra: string[] = [], env: Record<string, string> = {}): void {
    server.daemon = execa('ip', ['netns', 'exec', server.ns, process.execPath, ...DAEMON_NODE_FLAGS, CLI, 'daemon', '--config', server.configDir, '--state-dir', server.stateDir, '--max-lifetime', '900', ...extra], {
      env,
      stdout: { file: server.logFile, append: true },
      stderr: { file: server.logFile, append: true },
      reject: false,
    });
  }

  async stopDaemon(server: Server, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const d = server.daemon;
    server.daemon = undefined;
    if (!d) return;
    d.kill(signal);
    await d;
  }

  log(server: Server): string {
    try {
      return readFileSync(server.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** A container namespace on `server`'s bridge, with address 100.64.0.<host>/24 and the overlay MTU. */
  async addContainer(server: Server, host: number, mtu = 1450): Promise<Container> {
    const name = `${this.prefix}c${host}`;
    await this.addNs(name);
    await ns(name, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1');
    await run('ip', ['link', 'add', 'eth0', 'netns', name, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', `c${host}`, 'netns', server.ns, 'mtu', String(mtu)]);
    await ns(server.ns, 'ip', 'link', 'set', `c${host}`, 'master', 'vxbr0', 'up');
    await ns(name, 'ip', 'addr', 'add', `100.64.0.${host}/24`, 'dev', 'eth0');
    await ns(name, 'ip', 'link', 'set', 'eth0', 'up');
    const c = { ns: name, address: `100.64.0.${host}`, server };
    this.containers.push(c);
    return c;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.servers.map((s) => this.stopDaemon(s, 'SIGKILL')));
    this.cleanupSync();
  }

  private cleanupSync(): void {
    for (const s of this.servers) s.daemon?.kill('SIGKILL');
    for (const n of this.namespaces.splice(0)) execaSync('ip', ['netns', 'del', n], { reject: false });
    rmSync(this.dir, { recursive: true, force: true });
    process.off('exit', this.exitHook);
  }
}

/** Poll `check` until it returns true, at most `timeoutMs`; throws with the last detail. */
export async function waitFor(what: string, check: () => Promise<boolean | string>, timeoutMs = 10_000, stepMs = 50): Promise<number> {
  const start = Date.now();
  let last: boolean | string = false;
  for (let i = 0; Date.now() - start < timeoutMs; i++) {
    try {
      last = await check();
    } catch (err) {
      last = String(err);
    }
    if (last === true) return Date.now() - start;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${typeof last === 'string' ? `: ${last}` : ''}`);
}

/** The peers file every server gets, optionally with peers listed in a different order. */
export function peersYaml(servers: { index: number; address: string }[], mesh: Record<string, unknown> = {}, extra = ''): string {
  const meshLines = Object.entries(mesh).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`);
  return [
    ...(meshLines.length ? ['mesh:', ...meshLines] : []),
    'peers:',
    ...servers.map((s) => `  - { name: srv${s.index}, id: ${s.index}, address: "${s.address}" }`),
    extra,
  ].join('\n') + '\n';
}

export interface KernelLink {
  ifname: string;
  ifindex: number;
  master?: string;
  flags: string[];
  mtu: number;
  ifalias?: string;
  linkinfo?: { info_kind?: string; info_data?: { id?: number; remote?: string; local?: string; learning?: boolean }; info_slave_data?: { isolated?: boolean } };
  stats64?: { rx: { packets: number; bytes: number }; tx: { packets: number; bytes: number } };
}

export async function links(nsName: string): Promise<KernelLink[]> {
  return JSON.parse(await ns(nsName, 'ip', '-j', '-d', '-s', 'link', 'show')) as KernelLink[];
}

export async function vxlanLinks(nsName: string): Promise<KernelLink[]> {
  return (await links(nsName)).filter((l) => l.linkinfo?.info_kind === 'vxlan');
}

export async function chainRules(nsName: string): Promise<string[]> {
  const text = await ns(nsName, 'ebtables-save', '-t', 'filter');
  return text.split('\n').filter((l) => l.startsWith('-A VXMESH ')).map((l) => l.slice('-A VXMESH '.length));
}

export async function forwardRules(nsName: string): Promise<string[]> {
  const text = await ns(nsName, 'ebtables-save', '-t', 'filter');
  return text.split('\n').filter((l) => l.startsWith('-A FORWARD '));
}

export async function ping(from: Container, to: string, extra: string[] = []): Promise<boolean> {
  const r = await execa('ip', ['netns', 'exec', from.ns, 'ping', '-c', '1', '-W', '1', ...extra, to], { reject: false, timeout: 10_000 });
  return r.exitCode === 0;
}

export async function statusJson(server: Server): Promise<Record<string, any>> {
  return JSON.parse(await ns(server.ns, process.execPath, CLI, 'status', '--json').catch((e: Error) => {
    // status exits 1 when degraded but still prints the JSON.
    const m = /failed \(1\): ([\s\S]*)$/.exec(e.message);
    if (m?.[1]?.trim().startsWith('{')) return m[1];
    throw e;
  })) as Record<string, any>;
}

/** Fully built mesh: servers 1..n, each listing the peers in its own order. */
export async function buildMesh(lab: Lab, n: number, opts: { mesh?: Record<string, unknown>; containers?: boolean; order?: (i: number, list: Server[]) => Server[]; family?: 4 | 6; underlayMtu?: number } = {}): Promise<void> {
  await lab.init();
  for (let i = 1; i <= n; i++) await lab.addServer(i, { family: opts.family ?? 4, mtu: opts.underlayMtu ?? 1500 });
  for (const s of lab.servers) {
    const list = opts.order ? opts.order(s.index, lab.servers) : lab.servers;
    lab.writeConfig(s, peersYaml(list, opts.mesh));
    lab.startDaemon(s);
  }
  for (const s of lab.servers) await waitForConverged(s, n - 1);
  if (opts.containers !== false) for (const s of lab.servers) await lab.addContainer(s, s.index);
}

export async function waitForConverged(s: Server, remotes: number, timeoutMs = 15_000): Promise<void> {
  await waitFor(`${s.ns} to have ${remotes} attached, up vxlan ports`, async () => {
    const v = await vxlanLinks(s.ns);
    const ok = v.filter((l) => l.master === 'vxbr0' && l.flags.includes('UP')).length;
    return ok === remotes || `${ok} of ${remotes}`;
  }, timeoutMs);
}

/**
 * Count ARP requests for `target` on a namespace's eth0 (a fresh nft table `vxtest` in that
 * namespace, named counter `arpcount`). Egress counts what a container sends.
 */
export async function countArpRequests(nsName: string, target: string, hook: 'ingress' | 'egress' = 'ingress', sender?: string): Promise<void> {
  const from = sender ? ` arp saddr ip ${sender}` : '';
  await run('ip', ['netns', 'exec', nsName, 'nft', '-f', '-'], `table netdev vxtest
delete table netdev vxtest
table netdev vxtest {
  counter arpcount {}
  chain c { type filter hook ${hook} device eth0 priority 0; arp operation request arp daddr ip ${target}${from} counter name arpcount; }
}
`);
}

/** Count VXLAN packets crossing the underlay bridge (named counter `vxcount` in `bridge vxtest`). */
export async function countVxlanOnUnderlay(underlayNs: string, port = 4789): Promise<void> {
  await run('ip', ['netns', 'exec', underlayNs, 'nft', '-f', '-'], `table bridge vxtest
delete table bridge vxtest
table bridge vxtest {
  counter vxcount {}
  chain f { type filter hook forward priority 0; udp dport ${port} counter name vxcount; }
}
`);
}

export async function readCounter(nsName: string, name: string): Promise<number> {
  const out = await ns(nsName, 'nft', '-j', 'list', 'counters');
  const items = (JSON.parse(out) as { nftables: { counter?: { name: string; packets: number } }[] }).nftables;
  const c = items.find((i) => i.counter?.name === name)?.counter;
  if (!c) throw new Error(`no nft counter ${name} in ${nsName}`);
  return c.packets;
}

/**
 * Upper bound for "repaired by an event, not by the 30 s periodic resync" in tests. How fast
 * the repair is (p95 around 100 ms) is a benchmark figure (`npm run bench`), not a test
 * assertion: on a loaded CI machine process spawns alone can take a second.
 */
export const EVENT_DRIVEN_MS = 5000;

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
