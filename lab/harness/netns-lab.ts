import { execa, execaSync, type ResultPromise } from 'execa';
import { rmSync } from 'node:fs';
import { parseEbtablesChains } from '../../src/kernel/parse.js';
import { CHAIN, DEFAULT_BRIDGE } from '../../src/model/names.js';
import { NFT_BACKEND } from '../../src/kernel/ebtables-backend.js';
import { addContainer, DaemonHost, NetnsRegistry, nsRun, peersYaml as writePeers, run, sweepDeadNamespaces, Underlay, type PeerEntry } from './netns.js';
import { CLI } from './paths.js';

/**
 * A lab of "servers" (network namespaces on one underlay bridge that lives in its own
 * namespace), each running the real vxmesh daemon, with "containers" (more namespaces)
 * on each server's mesh bridge: the tests' and the demo's view of the one namespace harness
 * (./netns.ts, which the benchmark uses directly). Nothing is created in the machine's own
 * namespace; every namespace is removed by cleanup(), which also runs at process exit.
 * Underlay: 198.18.0.0/15; overlay: 100.64.0.0/10 (../shared/DESIGN.md).
 */
export { CLI, run };

/** The test suite's namespace prefix; the demo passes its own, so the suite's sweep never touches it. */
export const TEST_PREFIX = 'vxt';
let labCounter = 0;

export function ns(name: string, ...cmd: string[]): Promise<string> {
  return nsRun(name, cmd);
}

/** A vxmesh server of the lab: a daemon host at underlay address `address`. */
export class Server extends DaemonHost {
  constructor(
    reg: NetnsRegistry,
    nsName: string,
    readonly index: number,
    readonly address: string,
  ) {
    super(reg, nsName);
  }
}

export interface Container {
  ns: string;
  address: string;
  server: Server;
}

export class Lab {
  readonly prefix: string;
  readonly underlay: string;
  readonly servers: Server[] = [];
  readonly containers: Container[] = [];
  private readonly reg: NetnsRegistry;
  private ul: Underlay | undefined;

  /** Namespaces are named `<prefix><pid>x<n>...`: a later run's sweep can tell whose they are. */
  constructor(opts: { prefix?: string } = {}) {
    this.prefix = `${opts.prefix ?? TEST_PREFIX}${process.pid}x${labCounter++}`;
    this.underlay = `${this.prefix}ul`;
    this.reg = new NetnsRegistry(this.prefix, 'vxmesh-lab-');
  }

  get dir(): string {
    return this.reg.dir;
  }

  /** The registry of the lab's namespaces and processes (for helpers that start their own: FRR, the benchmark's). */
  get registry(): NetnsRegistry {
    return this.reg;
  }

  /** The underlay: one bridge in its own namespace. */
  async init(): Promise<void> {
    this.ul = await Underlay.create(this.reg, this.underlay, { ipv6: true });
  }

  private get underlayNet(): Underlay {
    if (!this.ul) throw new Error('lab: init() first');
    return this.ul;
  }

  /** A server namespace wired to the underlay with address 198.18.0.<index> (or 2001:2::<index>) on eth0. */
  async addServer(index: number, opts: { withAddress?: boolean; family?: 4 | 6; mtu?: number } = {}): Promise<Server> {
    const name = `${this.prefix}s${index}`;
    // IPv6 underlays use 2001:2::/48, the IPv6 benchmarking range (RFC 5180).
    const address = opts.family === 6 ? `2001:2::${index}` : `198.18.0.${index}`;
    const cidr = opts.family === 6 ? `${address}/64` : `${address}/24`;
    await this.underlayNet.addHost(name, opts.withAddress === false ? [] : [cidr], { port: `s${index}`, mtu: opts.mtu ?? 1500, ipv6: true });
    const server = new Server(this.reg, name, index, address);
    this.servers.push(server);
    return server;
  }

  /** A plain host on the underlay (no config, no daemon): an attacker or a legacy server. */
  async addUnderlayHost(suffix: string, address: string): Promise<string> {
    const name = `${this.prefix}${suffix}`;
    await this.underlayNet.addHost(name, [`${address}/24`], { port: suffix, ipv6: true });
    return name;
  }

  /** A program run in `nsName` for a test (radvd, a capture): killed by `kill` or by cleanup at the latest. */
  spawn(nsName: string, args: string[], logFile?: string): ResultPromise {
    return this.reg.spawn(nsName, args, logFile === undefined ? {} : { logFile });
  }

  kill(p: ResultPromise | undefined, signal?: NodeJS.Signals): Promise<void> {
    return this.reg.kill(p, signal);
  }

  /** A bare namespace of the lab's (removed with it): the far ends of veths a test makes. */
  addNamespace(suffix: string): Promise<string> {
    return this.reg.addNs(`${this.prefix}${suffix}`);
  }

  /** Remove a namespace addUnderlayHost made (and the processes in it). */
  async removeHost(nsName: string): Promise<void> {
    await this.reg.delNs(nsName);
  }

  writeConfig(server: Server, text: string, file = 'peers.yaml'): void {
    server.writeConfig(text, file);
  }

  startDaemon(server: Server, extra: string[] = [], env: Record<string, string> = {}): void {
    server.start(extra, { env, maxLifetimeS: 900 });
  }

  async stopDaemon(server: Server, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await server.stop(signal);
  }

  log(server: Server): string {
    return server.log();
  }

  /** A container namespace on `server`'s bridge, with address 100.64.0.<host>/24 and the overlay MTU. */
  /** A container with 100.64.0.<host> on `bridge` (the mesh bridge by default; a segment's with segments:). */
  async addContainer(server: Server, host: number, mtu = 1450, bridge?: string): Promise<Container> {
    const name = await addContainer(this.reg, server.ns, `100.64.0.${host}`, { name: `${this.prefix}c${host}`, hostPort: `c${host}`, mtu, ...(bridge ? { bridge } : {}) });
    const c = { ns: name, address: `100.64.0.${host}`, server };
    this.containers.push(c);
    return c;
  }

  private readonly files: string[] = [];

  /** A file outside the lab's directory that its processes leave (wireguard-go's control socket): removed at cleanup. */
  removeAtCleanup(path: string): void {
    this.files.push(path);
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop('SIGKILL')));
    this.reg.cleanupSync();
    for (const f of this.files.splice(0)) rmSync(f, { force: true });
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

/** The peers file every server gets (server n is peer srv<n>), optionally with peers listed in a different order. */
export function peersYaml(servers: { index: number; address: string }[], mesh: Record<string, unknown> = {}, extra = ''): string {
  const peers: PeerEntry[] = servers.map((s) => ({ name: `srv${s.index}`, id: s.index, address: s.address }));
  return writePeers(peers, mesh, extra);
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

/**
 * The lab reads and edits rules with the nf_tables commands by name, whatever plain `ebtables`
 * means on the machine: they are what the daemon picks on a kernel without legacy xtables.
 */
export const LAB_EBTABLES = NFT_BACKEND;

/** Rules of the vxmesh chain, as the product's parser reads `ebtables-save`. */
export async function chainRules(nsName: string): Promise<string[]> {
  return parseEbtablesChains(await ns(nsName, LAB_EBTABLES.save, '-t', 'filter')).get(CHAIN) ?? [];
}

/** FORWARD rules as `-A FORWARD ...` lines. */
export async function forwardRules(nsName: string): Promise<string[]> {
  return (parseEbtablesChains(await ns(nsName, LAB_EBTABLES.save, '-t', 'filter')).get('FORWARD') ?? []).map((r) => `-A FORWARD ${r}`);
}

export async function ping(from: Container, to: string, extra: string[] = []): Promise<boolean> {
  const r = await execa('ip', ['netns', 'exec', from.ns, 'ping', '-c', '1', '-W', '1', ...extra, to], { reject: false, timeout: 10_000 });
  return r.exitCode === 0;
}

export async function statusJson(server: Server): Promise<Record<string, any>> {
  return JSON.parse(await ns(server.ns, process.execPath, CLI, 'status', '--json', '--state-dir', server.stateDir).catch((e: Error) => {
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
  // flood-list and multicast meshes have one VXLAN port whatever the number of peers.
  const single = opts.mesh?.mode !== undefined && opts.mesh.mode !== 'per-peer';
  for (const s of lab.servers) await waitForConverged(s, single ? 1 : n - 1);
  if (opts.containers !== false) for (const s of lab.servers) await lab.addContainer(s, s.index);
}

export async function waitForConverged(s: Server, remotes: number, timeoutMs = 15_000): Promise<void> {
  await waitFor(`${s.ns} to have ${remotes} attached, up vxlan ports`, async () => {
    const v = await vxlanLinks(s.ns);
    const ok = v.filter((l) => l.master === DEFAULT_BRIDGE && l.flags.includes('UP')).length;
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

export { sweepDeadNamespaces };
