import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execaSync } from 'execa';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/model/types.js';
import { BRIDGE_ALIAS, OWNER_PREFIX } from '../../src/model/names.js';
import type { ActualState, IngressState, LinkInfo } from '../../src/model/state.js';
import { computeDesired } from '../../src/plan/desired.js';
import { computePlan, expectedChain } from '../../src/plan/plan.js';
import { expectedRules } from '../../src/plan/ingress.js';
import { probeAddressV6 } from '../../src/model/probe-address.js';
import type { BaselineResult, BaselineSpec } from './baseline.js';
import { addContainer, DaemonHost, nsRun, peersYaml as writePeers, programArgv, sleep, Underlay, type NetnsRegistry, type PeerEntry } from '../harness/netns.js';
import { BENCH_JS, CLI, HTTP_BATCH_JS } from '../harness/paths.js';
import { ebtablesRules, LinkWatcher, upVxlanPorts } from './watch.js';

/**
 * The benchmark's peers file. Link probing is off unless asked for: the remotes here run no
 * daemon, and the probe's own cost is measured apart, against a fleet that answers
 * (probe-cost.ts), with probing on and off side by side.
 */
function peersYaml(peers: PeerEntry[], mesh: Record<string, unknown> = {}): string {
  return writePeers(peers, { probe: { enabled: false }, ...mesh });
}

/** Peer `id` lives at 198.18.0.<id> (ids stay below 255 in every figure). */
export function peerAddress(id: number): string {
  if (id < 1 || id > 254) throw new Error(`peer id ${id} out of the bench's address plan`);
  return `198.18.0.${id}`;
}

function peersFor(ids: number[]): { name: string; id: number; address: string }[] {
  return ids.map((id) => ({ name: `srv${id}`, id, address: peerAddress(id) }));
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, k) => from + k);

export function median(xs: number[]): number {
  return quantile(xs, 0.5);
}

/** Nearest-rank quantile (p95 of 20 samples is the 19th smallest). */
export function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * s.length));
  return s[rank - 1]!;
}

export async function runBaselineIn(ns: string, spec: BaselineSpec): Promise<BaselineResult> {
  const out = await nsRun(ns, [process.execPath, BENCH_JS, '__baseline', JSON.stringify(spec)], { timeoutMs: 300_000 });
  return JSON.parse(out) as BaselineResult;
}

/** The VXMESH chain (gate and one rule per port) and the FORWARD jump are there (waiting up to 10 s: the chain is written after a removed device is deleted). */
async function assertVxmeshRules(ns: string, n: number): Promise<void> {
  const want = n + 1; // the gate and one rule per port
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await ebtablesRules(ns);
    if (r.vxmesh.length === want && r.forward.includes('-A FORWARD -i vxlan+ -j VXMESH')) return;
    if (Date.now() > deadline) throw new Error(`${ns}: expected ${want} VXMESH rules and the FORWARD jump, found ${r.vxmesh.length} and [${r.forward.slice(0, 3).join('; ')}]`);
    await sleep(100);
  }
}

async function assertIsolated(ns: string, n: number): Promise<void> {
  const ports = JSON.parse(await nsRun(ns, ['bridge', '-j', '-d', 'link', 'show'])) as { ifname: string; isolated?: boolean }[];
  const iso = ports.filter((p) => p.ifname.startsWith('vxlan') && p.isolated === true).length;
  if (iso !== n) throw new Error(`${ns}: expected ${n} isolated vxlan ports, found ${iso}`);
}

const meshDone = (ns: string, n: number) => async () => (await upVxlanPorts(ns).catch(() => new Set<string>())).size === n;

// ---------------------------------------------------------------- 1. cold start

/**
 * vxmesh cold start on an empty host with `n` remotes. `config`: the daemon is already
 * running with no peers.yaml and the file is renamed into place; `process`: the file is
 * there and the clock starts when the daemon process is spawned.
 */
export async function vxmeshColdStart(reg: NetnsRegistry, ul: Underlay, n: number, mode: 'config' | 'process'): Promise<number> {
  const host = await ul.addHost('h', [peerAddress(1)]);
  const d = new DaemonHost(reg, host);
  const w = new LinkWatcher(reg, host);
  try {
    await w.start();
    const yaml = peersYaml(peersFor(range(1, n + 1)));
    let t0: number;
    if (mode === 'config') {
      d.start();
      await d.waitRunning();
      await sleep(300); // the config watcher is ready
      t0 = d.writeConfig(yaml);
    } else {
      d.writeConfig(yaml);
      t0 = performance.now();
      d.start();
    }
    const t = await w.waitUntil(`${n} attached, up vxlan ports`, meshDone(host, n), t0, 60_000);
    await assertVxmeshRules(host, n);
    return t - t0;
  } finally {
    await w.close();
    await d.stop();
    await reg.delNs(host);
  }
}

/** Baseline cold start (the script's `start`) and, on the same host, its `stop`. */
export async function baselineColdStart(reg: NetnsRegistry, ul: Underlay, n: number): Promise<{ start: number; stop: number; processes: number }> {
  const host = await ul.addHost('h', [peerAddress(1)]);
  try {
    const remotes = range(2, n).map(peerAddress);
    const spec: BaselineSpec = { action: 'start', local: peerAddress(1), dev: 'eth0', remotes, rules: 'each' };
    const start = await runBaselineIn(host, spec);
    const ports = await upVxlanPorts(host);
    const rules = await ebtablesRules(host);
    if (ports.size !== n || rules.forward.length !== n * (n - 1)) throw new Error(`baseline incomplete: ${ports.size} ports, ${rules.forward.length} rules`);
    const stop = await runBaselineIn(host, { ...spec, action: 'stop' });
    return { start: start.ms, stop: stop.ms, processes: start.processes };
  } finally {
    await reg.delNs(host);
  }
}

// ---------------------------------------------------------------- 2, 3, 5 on one running daemon

export interface LiveHost {
  host: string;
  daemon: DaemonHost;
  watcher: LinkWatcher;
  n: number;
  close(): Promise<void>;
}

export async function liveHost(reg: NetnsRegistry, ul: Underlay, n: number): Promise<LiveHost> {
  const host = await ul.addHost('h', [peerAddress(1)]);
  const daemon = new DaemonHost(reg, host);
  const watcher = new LinkWatcher(reg, host);
  await watcher.start();
  daemon.writeConfig(peersYaml(peersFor(range(1, n + 1))));
  daemon.start();
  await watcher.waitUntil('converged', meshDone(host, n), performance.now(), 60_000);
  await assertVxmeshRules(host, n);
  return {
    host,
    daemon,
    watcher,
    n,
    async close() {
      await watcher.close();
      await daemon.stop();
      await reg.delNs(host);
    },
  };
}

/** `edits` times: add a peer (timed until its link is up), then remove it again (timed until gone). */
export async function convergence(h: LiveHost, edits: number, gapMs: number): Promise<{ add: number[]; remove: number[] }> {
  const base = range(1, h.n + 1);
  const extraId = h.n + 2;
  const dev = `vxlan${extraId}`;
  const add: number[] = [];
  const remove: number[] = [];
  for (let i = 0; i < edits; i++) {
    await sleep(gapMs);
    let t0 = h.daemon.writeConfig(peersYaml(peersFor([...base, extraId])));
    let t = await h.watcher.waitUntil(`${dev} up`, async () => (await upVxlanPorts(h.host)).has(dev), t0, 20_000);
    add.push(t - t0);
    await sleep(gapMs);
    t0 = h.daemon.writeConfig(peersYaml(peersFor(base)));
    t = await h.watcher.waitUntil(`${dev} gone`, async () => !(await nsRun(h.host, ['ip', '-j', 'link', 'show'])).includes(`"${dev}"`), t0, 20_000);
    remove.push(t - t0);
  }
  await assertVxmeshRules(h.host, h.n);
  return { add, remove };
}

/** `reps` times: delete a device behind the daemon's back, timed until it is back, attached and up. */
export async function driftRepair(h: LiveHost, reps: number, gapMs: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < reps; i++) {
    await sleep(gapMs);
    const dev = `vxlan${2 + (i % h.n)}`;
    const t0 = performance.now();
    await nsRun(h.host, ['ip', 'link', 'del', dev]);
    const t = await h.watcher.waitUntil(`${dev} back`, async () => (await upVxlanPorts(h.host)).has(dev), t0, 20_000);
    out.push(t - t0);
  }
  await sleep(gapMs);
  await assertVxmeshRules(h.host, h.n);
  return out;
}

const CLK_TCK = Number(execaSync('getconf', ['CLK_TCK'], { reject: false }).stdout) || 100;

function cpuTicks(pid: number, which: 'all' | 'user' = 'all'): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the comm field: state is f[0], so utime..cstime (fields 14..17) are f[11..14].
  if (which === 'user') return Number(f[11]) + Number(f[13]);
  return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
}

export function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Idle cost of the running daemon: resident memory (max of samples; its helper processes
 * `ip monitor` and `nft monitor` reported apart) and CPU seconds per minute, counting the
 * daemon and every process it ran and reaped (the periodic resync's `ip`/`ebtables-save`),
 * plus the monitors' own CPU.
 */
export async function idleCost(h: LiveHost, windowMs: number): Promise<{ rssMb: number; helpersRssMb: number; cpuSecPerMin: number; windowS: number }> {
  const pid = h.daemon.proc?.pid;
  if (!pid) throw new Error('daemon not running');
  return idleCostOf(pid, windowMs);
}

/** The same for any daemon process: `pid` must be a running `vxmesh daemon`. */
export async function idleCostOf(pid: number, windowMs: number): Promise<{ rssMb: number; helpersRssMb: number; cpuSecPerMin: number; userSecPerMin: number; windowS: number }> {
  const comm = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  if (!comm.includes('daemon')) throw new Error(`pid ${pid} is not the daemon: ${comm}`);
  const helperTicks = () => children(pid).reduce((s, c) => s + safe(() => cpuTicks(c)), 0);
  const c0 = cpuTicks(pid) + helperTicks();
  const u0 = cpuTicks(pid, 'user');
  const t0 = performance.now();
  let rss = rssKb(pid);
  let helpers = 0;
  while (performance.now() - t0 < windowMs) {
    await sleep(Math.min(2000, windowMs));
    rss = Math.max(rss, rssKb(pid));
    helpers = Math.max(helpers, children(pid).reduce((s, c) => s + safe(() => rssKb(c)), 0));
  }
  const c1 = cpuTicks(pid) + helperTicks();
  const u1 = cpuTicks(pid, 'user');
  const secs = (performance.now() - t0) / 1000;
  const perMin = (ticks: number) => (ticks / CLK_TCK / secs) * 60;
  return { rssMb: rss / 1024, helpersRssMb: helpers / 1024, cpuSecPerMin: perMin(c1 - c0), userSecPerMin: perMin(u1 - u0), windowS: secs };
}

function safe(f: () => number): number {
  try {
    return f();
  } catch {
    return 0;
  }
}

/**
 * Wall time of `vxmesh status` against the live daemon and of a bare `node -e 0`, run
 * alternately `reps` times each by a timer inside the namespace (so `ip netns exec` is not in
 * the figure). Medians in ms.
 */
export async function cliStatus(h: LiveHost, reps: number): Promise<{ statusMs: number; nodeMs: number; status: number[]; node: number[] }> {
  const spec = { reps, commands: [[...programArgv(), 'status', '--state-dir', h.daemon.stateDir], [process.execPath, '-e', '0']] };
  const out = JSON.parse(await nsRun(h.host, [process.execPath, BENCH_JS, '__time', JSON.stringify(spec)], { timeoutMs: 300_000 })) as number[][];
  return { statusMs: median(out[0]!), nodeMs: median(out[1]!), status: out[0]!, node: out[1]! };
}

/** Child mode of cliStatus: spawn each command in turn and time it from launch to exit. */
export function timeCommands(spec: { reps: number; commands: string[][] }): number[][] {
  const times: number[][] = spec.commands.map(() => []);
  for (let r = 0; r < spec.reps; r++) {
    spec.commands.forEach((cmd, i) => {
      const t0 = performance.now();
      const p = spawnSync(cmd[0]!, cmd.slice(1), { stdio: 'ignore' });
      if (p.status !== 0) throw new Error(`${cmd.join(' ')} exited ${p.status}`);
      times[i]!.push(performance.now() - t0);
    });
  }
  return times;
}

// ---------------------------------------------------------------- 4. data path

export type DataMode = 'none' | 'flat' | 'gated' | 'isolated';

export interface DataConfig {
  mode: DataMode;
  remotes: number;
  a: string;
  b: string;
  ca: string;
  cb: string;
}

/**
 * Two real servers A (198.18.0.1) and B (198.18.0.2) with a container each; with more than
 * one remote, the other remotes are addresses on a third namespace, so each server's bridge
 * has `remotes` VXLAN ports and the full rule set. vxmesh daemons are stopped (SIGTERM,
 * which leaves the data plane up) once converged, so every mode is measured on kernel
 * objects alone.
 */
export async function dataConfig(reg: NetnsRegistry, mode: DataMode, remotes: number): Promise<DataConfig> {
  const ul = await Underlay.create(reg);
  const a = await ul.addHost('a', [peerAddress(1)]);
  const b = await ul.addHost('b', [peerAddress(2)]);
  const farIds = range(3, remotes - 1);
  if (farIds.length) await ul.addHost('f', farIds.map(peerAddress));
  if (mode === 'none' || mode === 'flat') {
    const rules = mode === 'flat' ? 'restore' : 'none';
    // Partner first on both ends: the script's index-VNI is then 0 on both sides of A-B.
    await runBaselineIn(a, { action: 'start', local: peerAddress(1), dev: 'eth0', remotes: [peerAddress(2), ...farIds.map(peerAddress)], rules });
    await runBaselineIn(b, { action: 'start', local: peerAddress(2), dev: 'eth0', remotes: [peerAddress(1), ...farIds.map(peerAddress)], rules });
    if (mode === 'flat') for (const h of [a, b]) if ((await ebtablesRules(h)).forward.length !== remotes * (remotes - 1)) throw new Error(`${h}: flat rules missing`);
  } else {
    const yaml = peersYaml(peersFor([1, 2, ...farIds]), mode === 'isolated' ? { loop_prevention: 'isolated' } : {});
    const daemons = [a, b].map((h) => new DaemonHost(reg, h));
    for (const d of daemons) {
      d.writeConfig(yaml);
      d.start();
    }
    const deadline = Date.now() + 60_000;
    for (const h of [a, b]) while ((await upVxlanPorts(h).catch(() => new Set<string>())).size !== remotes) {
      if (Date.now() > deadline) throw new Error(`${h}: daemon did not converge`);
      await sleep(100);
    }
    await sleep(500);
    for (const d of daemons) await d.stop();
    for (const h of [a, b]) await (mode === 'gated' ? assertVxmeshRules(h, remotes) : assertIsolated(h, remotes));
  }
  const ca = await addContainer(reg, a, '100.64.0.1');
  const cb = await addContainer(reg, b, '100.64.0.2');
  let ok = false;
  for (let i = 0; i < 20 && !ok; i++) {
    ok = await nsRun(ca, ['ping', '-c', '1', '-W', '1', '100.64.0.2']).then(() => true, () => false);
  }
  if (!ok) throw new Error(`${mode}/${remotes}: containers cannot reach each other`);
  return { mode, remotes, a, b, ca, cb };
}

/** iperf3 TCP throughput in Gbit/s from `clientNs` to `addr` in `serverNs`, bounded in time. */
export async function iperf(reg: NetnsRegistry, serverNs: string, clientNs: string, addr: string, seconds: number, omit: number): Promise<number> {
  const limit = String(seconds + omit + 20);
  const server = reg.spawn(serverNs, ['timeout', limit, 'iperf3', '-s', '-1', '-p', '5201']);
  try {
    let lastErr = '';
    for (let attempt = 0; attempt < 20; attempt++) {
      await sleep(100);
      try {
        const out = await nsRun(clientNs, ['timeout', limit, 'iperf3', '-c', addr, '-p', '5201', '-t', String(seconds), '-O', String(omit), '-J', '--connect-timeout', '1000'], { timeoutMs: (seconds + omit + 25) * 1000 });
        const j = JSON.parse(out) as { end?: { sum_received?: { bits_per_second?: number } }; error?: string };
        const bps = j.end?.sum_received?.bits_per_second;
        if (!bps) throw new Error(j.error ?? 'no result');
        return bps / 1e9;
      } catch (err) {
        lastErr = String(err);
        if (!/refused|connect|unable/i.test(lastErr)) throw err;
      }
    }
    throw new Error(`iperf3 to ${addr} never connected: ${lastErr}`);
  } finally {
    await reg.kill(server, 'SIGKILL');
  }
}

// ---------------------------------------------------------------- 6. plan scale (pure)

function bigConfig(peers: number, isolated = false): Config {
  const text = peersYaml(peersFor2(peers), isolated ? { loop_prevention: 'isolated' } : {});
  const r = parseConfig([{ path: 'peers.yaml', text }]);
  if (!r.ok) throw new Error(`plan scale config invalid: ${JSON.stringify(r.issues.slice(0, 2))}`);
  return r.config;
}

/** Addresses for the pure plan figure (no kernel): 198.18.x.y, any count up to 65k. */
function peersFor2(count: number): { name: string; id: number; address: string }[] {
  return range(1, count).map((id) => ({ name: `srv${id}`, id, address: `198.18.${id >> 8}.${id & 255}` }));
}

const NO_INGRESS: IngressState = { available: true, error: undefined, present: false, peers4: [], peers6: [], rules: [], dropped: 0, droppedBytes: 0 };

function convergedActual(cfg: Config, desiredLinks: ReturnType<typeof computeDesired>): ActualState {
  const links = new Map<string, LinkInfo>();
  const stats = { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 };
  let ifindex = 1;
  links.set('eth0', { name: 'eth0', ifindex: ifindex++, kind: 'veth', up: true, mtu: 1500, master: undefined, alias: undefined, vxlan: undefined, isolated: undefined, addresses: [cfg.peers[0]!.address], stats });
  links.set(desiredLinks.bridge.name, { name: desiredLinks.bridge.name, ifindex: ifindex++, kind: 'bridge', up: true, mtu: desiredLinks.bridge.mtu, master: undefined, alias: BRIDGE_ALIAS, vxlan: undefined, isolated: undefined, addresses: desiredLinks.probe ? [probeAddressV6(desiredLinks.probe.id)] : [], stats });
  for (const l of desiredLinks.links) {
    links.set(l.device, {
      name: l.device,
      ifindex: ifindex++,
      kind: 'vxlan',
      up: true,
      mtu: l.mtu,
      master: desiredLinks.bridge.name,
      alias: `${OWNER_PREFIX}${l.peer}`,
      vxlan: { vni: l.vni, remote: l.remote, local: l.local, link: l.underlay, port: l.port, learning: false, group: undefined, ttl: 0 },
      // Every per-peer port is isolated, in both loop-prevention modes.
      isolated: true,
      addresses: [],
      stats,
    });
  }
  const isolated = desiredLinks.loopPrevention === 'isolated';
  const chain = isolated ? [] : expectedChain(desiredLinks.links.map((l) => l.device));
  const ing = desiredLinks.ingress;
  const ingress: IngressState = ing
    ? { available: true, error: undefined, present: true, peers4: [...ing.peers4], peers6: [...ing.peers6], rules: expectedRules(ing.port, ing.local), dropped: 0, droppedBytes: 0 }
    : NO_INGRESS;
  return { links, ebtables: { available: true, error: undefined, chainExists: !isolated, chain, jumps: isolated ? 0 : 1 }, ingress };
}

export function planScale(peers: number, reps: number): { parseMs: number; coldMs: number; steadyMs: number; steadyIsolatedMs: number; changesCold: number; changesSteady: number } {
  const parse: number[] = [];
  const cold: number[] = [];
  const steady: number[] = [];
  let changesCold = 0;
  let changesSteady = 0;
  const cfg = bigConfig(peers);
  const self = cfg.peers[0]!;
  const empty: ActualState = { links: new Map(), ebtables: { available: true, error: undefined, chainExists: false, chain: [], jumps: 0 }, ingress: NO_INGRESS };
  const actual = convergedActual(cfg, computeDesired(cfg, self, 'eth0'));
  // The same mesh with bridge port isolation: no rule list to verify.
  const isoCfg = bigConfig(peers, true);
  const isoSelf = isoCfg.peers[0]!;
  const isoActual = convergedActual(isoCfg, computeDesired(isoCfg, isoSelf, 'eth0'));
  const steadyIsolated: number[] = [];
  for (let i = 0; i < reps; i++) {
    const text = peersYaml(peersFor2(peers));
    let t = performance.now();
    parseConfig([{ path: 'peers.yaml', text }]);
    parse.push(performance.now() - t);
    t = performance.now();
    const p1 = computePlan(computeDesired(cfg, self, 'eth0'), empty);
    cold.push(performance.now() - t);
    changesCold = p1.changes.length;
    t = performance.now();
    const p2 = computePlan(computeDesired(cfg, self, 'eth0'), actual);
    steady.push(performance.now() - t);
    changesSteady = p2.changes.length;
    t = performance.now();
    const p3 = computePlan(computeDesired(isoCfg, isoSelf, 'eth0'), isoActual);
    steadyIsolated.push(performance.now() - t);
    if (p3.changes.length) throw new Error(`isolated converged plan not empty: ${p3.changes.slice(0, 3).join('; ')}`);
  }
  return { parseMs: median(parse), coldMs: median(cold), steadyMs: median(steady), steadyIsolatedMs: median(steadyIsolated), changesCold, changesSteady };
}

/**
 * GET /status latency while `ops` mixed POSTs (start, stop, restart, reload) arrive at once:
 * the operations queue behind each other, status must not. Ends with the mesh started.
 */
export async function apiUnderLoad(h: LiveHost, ops: number): Promise<{ probes: number[]; opsMs: number }> {
  const token = readFileSync(join(h.daemon.stateDir, 'api-token'), 'utf8').trim();
  const kinds = ['start', 'stop', 'restart', 'reload'];
  const spec = {
    base: 'http://127.0.0.1:7789',
    concurrent: true,
    probe: '/status',
    requests: range(0, ops).map((k) => ({ method: 'POST', path: `/${kinds[k % 4]}`, headers: { authorization: `Bearer ${token}` } })),
  };
  const t0 = performance.now();
  const out = JSON.parse(await nsRun(h.host, [process.execPath, HTTP_BATCH_JS, JSON.stringify(spec)], { timeoutMs: 300_000 })) as { results: { status: number }[]; probeTimes: number[] };
  const opsMs = performance.now() - t0;
  if (out.results.some((r) => r.status !== 200 && r.status !== 500)) throw new Error(`API under load: unexpected answers ${out.results.map((r) => r.status).join(',')}`);
  await nsRun(h.host, [process.execPath, CLI, 'start', '--state-dir', h.daemon.stateDir]);
  await h.watcher.waitUntil('converged after the API load', meshDone(h.host, h.n), performance.now(), 60_000);
  return { probes: out.probeTimes, opsMs };
}

/**
 * GET /status latency on an idle daemon with `peers` peers (ebtables mode: the gate and one
 * rule per port): `requests` GETs one after the other, after the mesh has settled. Status is
 * served from the last observation; the chain is not read again without an nft event.
 */
export async function statusIdle(reg: NetnsRegistry, ul: Underlay, peers: number, requests: number, settleMs = 5000): Promise<{ ms: number[]; convergeS: number; bytes: number }> {
  const host = await ul.addHost('st', ['198.18.0.1']);
  const daemon = new DaemonHost(reg, host);
  try {
    daemon.writeConfig(peersYaml(peersFor2(peers)));
    const t0 = performance.now();
    daemon.start();
    for (;;) {
      if ((await upVxlanPorts(host).catch(() => new Set<string>())).size === peers - 1) break; // no bridge yet: not converged
      if (performance.now() - t0 > 600_000) throw new Error(`status bench: ${peers} peers not converged in 600 s`);
      await sleep(1000);
    }
    const convergeS = (performance.now() - t0) / 1000;
    await sleep(settleMs); // the reconcile its own changes trigger, then idle
    const spec = { base: 'http://127.0.0.1:7789', concurrent: false, requests: range(0, requests).map(() => ({ method: 'GET', path: '/status' })) };
    const out = JSON.parse(await nsRun(host, [process.execPath, HTTP_BATCH_JS, JSON.stringify(spec)], { timeoutMs: 300_000 })) as { results: { status: number; ms: number; body: string }[] };
    if (out.results.some((r) => r.status !== 200 && r.status !== 503)) throw new Error(`status bench: answers ${[...new Set(out.results.map((r) => r.status))].join(',')}`);
    const links = (JSON.parse(out.results.at(-1)!.body) as { links: unknown[] }).links.length;
    if (links !== peers - 1) throw new Error(`status bench: status lists ${links} links, want ${peers - 1}`);
    return { ms: out.results.map((r) => r.ms), convergeS, bytes: out.results.at(-1)!.body.length };
  } finally {
    await daemon.stop();
    await reg.delNs(host);
  }
}
