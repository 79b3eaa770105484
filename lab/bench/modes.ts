/**
 * The mesh modes side by side (issue 12): flood-list, per-peer with port isolation and per-peer
 * with ebtables, at fleet sizes from 64 to 2,000 peers. One host runs the real daemon; the other
 * peers are addresses only (a per-peer device or a flood-list entry needs no live remote), so
 * the host's kernel state is what a real member of an n-peer mesh has. Per-peer mode refuses
 * more than PER_PEER_MAX_PEERS peers (a bridge takes 1024 ports): those cells carry the
 * config's own refusal instead of a number.
 */
import pino from 'pino';
import { loadConfig, parseConfig } from '../../src/config/load.js';
import { PER_PEER_MAX_PEERS } from '../../src/config/validate-mode.js';
import { planFor } from '../../src/daemon/reconcile.js';
import { DAEMON_NODE_FLAGS, DAEMON_V8_RUNTIME_FLAGS } from '../../src/daemon/node-flags.js';
import { probeEbtablesBackend } from '../../src/kernel/ebtables-backend.js';
import { observe } from '../../src/kernel/observe.js';
import { CommandRunner } from '../../src/kernel/runner.js';
import { deviceName, DEFAULT_BRIDGE, ZERO_MAC } from '../../src/model/names.js';
import { isEmptyPlan } from '../../src/plan/plan.js';
import { idleCostOf, median, rssKb } from './measure.js';
import { DaemonHost, nsRun, peersYaml, sleep, type NetnsRegistry, type PeerEntry, type Underlay } from '../harness/netns.js';
import { BENCH_JS, HTTP_BATCH_JS } from '../harness/paths.js';
import { ebtablesRules, LinkWatcher, upVxlanPorts } from './watch.js';

export type ModeCell = 'flood-list' | 'isolated' | 'ebtables';
export const MODE_CELLS: readonly ModeCell[] = ['flood-list', 'isolated', 'ebtables'];
export const MODE_LABEL: Record<ModeCell, string> = { 'flood-list': 'flood-list', isolated: 'per-peer isolated', ebtables: 'per-peer ebtables' };

/** The one device of flood-list mode (the default name). */
const FLOOD_DEVICE = 'vxlan0';

/** Probing off, as in the other figures (the remotes run no daemon; bench:probe measures it). */
function meshFor(mode: ModeCell): Record<string, unknown> {
  const probe = { probe: { enabled: false } };
  if (mode === 'flood-list') return { mode: 'flood-list', vni: 42, ...probe };
  return { loop_prevention: mode, ...probe };
}

/** Peers 1..count at 198.18.<id / 256>.<id % 256>; the measured host is peer 1 (198.18.0.1). */
export function fleet(count: number): PeerEntry[] {
  return Array.from({ length: count }, (_, k) => ({ name: `srv${k + 1}`, id: k + 1, address: `198.18.${(k + 1) >> 8}.${(k + 1) & 255}` }));
}

export function modeYaml(mode: ModeCell, peers: number): string {
  return peersYaml(fleet(peers), meshFor(mode));
}

/** The config's own error when `mode` cannot have `peers` peers (per-peer beyond its limit), else undefined. */
export function modeRefusal(mode: ModeCell, peers: number): string | undefined {
  const r = parseConfig([{ path: 'peers.yaml', text: modeYaml(mode, peers) }]);
  if (r.ok) return undefined;
  const message = r.issues.map((i) => i.message).join('; ');
  if (mode !== 'flood-list' && peers > PER_PEER_MAX_PEERS && /bridge/.test(message)) return message;
  throw new Error(`${mode} config with ${peers} peers is invalid for another reason: ${message}`);
}

interface FdbJson {
  mac: string;
  dst?: string;
}

async function floodEntries(host: string): Promise<Set<string>> {
  const all = JSON.parse((await nsRun(host, ['bridge', '-j', 'fdb', 'show', 'dev', FLOOD_DEVICE]).catch(() => '')) || '[]') as FdbJson[];
  return new Set(all.filter((e) => e.mac === ZERO_MAC && e.dst).map((e) => e.dst!));
}

/** The flood-list device is attached to the bridge and up. */
async function floodDeviceUp(host: string): Promise<boolean> {
  const l = (JSON.parse((await nsRun(host, ['ip', '-j', 'link', 'show', 'dev', FLOOD_DEVICE]).catch(() => '')) || '[]') as { master?: string; flags?: string[] }[])[0];
  return l?.master === DEFAULT_BRIDGE && (l.flags ?? []).includes('UP');
}

/** What "in place" means per mode: every fdb entry on the attached, up device; or every port attached and up. */
function meshComplete(mode: ModeCell, host: string, remotes: number): () => Promise<boolean> {
  if (mode === 'flood-list') return async () => (await floodEntries(host)).size === remotes && (await floodDeviceUp(host));
  return async () => (await upVxlanPorts(host).catch(() => new Set<string>())).size === remotes;
}

/** The remote `id` is in place: its fdb entry, or its port attached and up. */
function remotePresent(mode: ModeCell, host: string, id: number): () => Promise<boolean> {
  const address = fleet(id).at(-1)!.address;
  if (mode === 'flood-list') return async () => (await floodEntries(host)).has(address);
  return async () => (await upVxlanPorts(host)).has(deviceName(id));
}

async function remoteAbsent(mode: ModeCell, host: string, id: number): Promise<boolean> {
  if (mode === 'flood-list') return !(await floodEntries(host)).has(fleet(id).at(-1)!.address);
  return !(await nsRun(host, ['ip', '-j', 'link', 'show'])).includes(`"${deviceName(id)}"`);
}

/** What the kernel holds once converged, counted from the kernel (no formula). */
export interface KernelCounts {
  vxlanDevices: number;
  fdbFloodEntries: number;
  isolatedPorts: number;
  ebtablesRules: number;
}

async function kernelCounts(mode: ModeCell, host: string): Promise<KernelCounts> {
  const devices = JSON.parse(await nsRun(host, ['ip', '-j', '-d', 'link', 'show', 'type', 'vxlan'])) as unknown[];
  const ports = JSON.parse(await nsRun(host, ['bridge', '-j', '-d', 'link', 'show'])) as { ifname: string; isolated?: boolean }[];
  return {
    vxlanDevices: devices.length,
    fdbFloodEntries: mode === 'flood-list' ? (await floodEntries(host)).size : 0,
    isolatedPorts: ports.filter((p) => p.ifname.startsWith('vxlan') && p.isolated === true).length,
    ebtablesRules: (await ebtablesRules(host)).vxmesh.length,
  };
}

export interface ModeFigures {
  /** Cold starts from daemon process launch, one per run, ms. */
  coldMs: number[];
  kernel: KernelCounts;
  /** A peer added: save -> its entry or port in place; and the same peer removed again (ms). */
  addMs: number[];
  removeMs: number[];
  /** An fdb entry or a device deleted behind the daemon's back -> back (ms). */
  driftMs: number[];
  /** computeDesired + computePlan against this converged host (read from the kernel), under the daemon's V8 flags. */
  plan: PlanFigure;
  statusMs: number[];
  /** Peak VmRSS of the daemon in the quiet period right after the last change (MB). */
  rssAfterChangeMb: number;
  /** Peak VmRSS of the daemon over the idle window that follows (MB): periodic resyncs fall in it. */
  rssMb: number;
  /** CPU of the daemon and the commands it ran over that window, seconds per minute. */
  cpuSecPerMin: number;
}

export interface ModeSpec {
  mode: ModeCell;
  peers: number;
  runs: number;
  edits: number;
  gapMs: number;
  planReps: number;
  statusRequests: number;
  settleMs: number;
  /** After the last change, before the idle window. */
  quietMs: number;
  idleMs: number;
}

/**
 * One cell: `runs` cold starts from daemon process launch (each on a fresh empty host with the
 * config already saved); the last daemon then goes on with edits, drift, the plan, status and
 * idle memory.
 */
export async function measureMode(reg: NetnsRegistry, ul: Underlay, s: ModeSpec, log: (msg: string) => void): Promise<ModeFigures> {
  const remotes = s.peers - 1;
  const coldMs: number[] = [];
  for (let run = 1; ; run++) {
    const host = await ul.addHost('m', ['198.18.0.1']);
    const d = new DaemonHost(reg, host);
    const w = new LinkWatcher(reg, host, s.mode === 'flood-list' ? [['ip', 'monitor', 'link'], ['bridge', 'monitor', 'fdb']] : undefined);
    try {
      await w.start();
      d.writeConfig(modeYaml(s.mode, s.peers));
      const t0 = performance.now();
      d.start();
      const t = await w.waitUntil(`${s.mode}: ${remotes} remotes in place`, meshComplete(s.mode, host, remotes), t0, 600_000);
      coldMs.push(t - t0);
      log(`${MODE_LABEL[s.mode]} ${s.peers} peers: cold start ${(t - t0).toFixed(0)} ms (run ${run})`);
      if (run < s.runs) continue;
      return { coldMs, ...(await onRunningDaemon(s, host, d, w)) };
    } finally {
      await w.close();
      await d.stop();
      await reg.delNs(host);
    }
  }
}

async function onRunningDaemon(s: ModeSpec, host: string, d: DaemonHost, w: LinkWatcher): Promise<Omit<ModeFigures, 'coldMs'>> {
  const kernel = await kernelCounts(s.mode, host);
  await sleep(s.settleMs); // the reconcile its own changes trigger
  const addMs: number[] = [];
  const removeMs: number[] = [];
  const extra = s.peers + 1;
  for (let i = 0; i < s.edits; i++) {
    await sleep(s.gapMs);
    let t0 = d.writeConfig(modeYaml(s.mode, s.peers + 1));
    let t = await w.waitUntil(`peer ${extra} added`, remotePresent(s.mode, host, extra), t0, 60_000);
    addMs.push(t - t0);
    await sleep(s.gapMs);
    // A removal is applied once the files read the same 1.5 s apart (a half-written file must not delete links).
    t0 = d.writeConfig(modeYaml(s.mode, s.peers));
    t = await w.waitUntil(`peer ${extra} removed`, () => remoteAbsent(s.mode, host, extra), t0, 60_000);
    removeMs.push(t - t0);
  }
  const driftMs: number[] = [];
  for (let i = 0; i < s.edits; i++) {
    await sleep(s.gapMs);
    const id = 2 + (i % (s.peers - 1));
    const t0 = performance.now();
    if (s.mode === 'flood-list') await nsRun(host, ['bridge', 'fdb', 'del', ZERO_MAC, 'dev', FLOOD_DEVICE, 'dst', fleet(id).at(-1)!.address, 'via', 'eth0']);
    else await nsRun(host, ['ip', 'link', 'del', deviceName(id)]);
    const t = await w.waitUntil(`peer ${id} repaired`, remotePresent(s.mode, host, id), t0, 60_000);
    driftMs.push(t - t0);
  }
  await sleep(s.settleMs);
  if (!(await meshComplete(s.mode, host, s.peers - 1)())) throw new Error(`${s.mode} ${s.peers}: mesh incomplete after the edits and drift`);
  const plan = await planInNamespace(host, d.configDir, s.planReps);
  const spec = { base: 'http://127.0.0.1:7789', requests: Array.from({ length: s.statusRequests }, () => ({ path: '/status' })) };
  const out = JSON.parse(await nsRun(host, [process.execPath, HTTP_BATCH_JS, JSON.stringify(spec)], { timeoutMs: 300_000 })) as { results: { status: number; ms: number }[] };
  if (out.results.some((r) => r.status !== 200)) throw new Error(`GET /status: ${out.results.map((r) => r.status).join(',')}`);
  const pid = d.proc?.pid;
  if (!pid) throw new Error('daemon not running');
  // V8 returns the garbage of a change (at 2000 peers a config parse leaves ~10 MB) about 8 s
  // after the GC that follows it (its memory reducer): the quiet period's peak is reported
  // apart, and the idle window starts after it.
  const afterChange = await peakRssKb(pid, s.quietMs);
  const idle = await idleCostOf(pid, s.idleMs);
  return { kernel, addMs, removeMs, driftMs, plan, statusMs: out.results.map((r) => r.ms), rssAfterChangeMb: afterChange / 1024, rssMb: idle.rssMb, cpuSecPerMin: idle.cpuSecPerMin };
}

/** Peak VmRSS of `pid` over `ms`, sampled every 500 ms (kB). */
async function peakRssKb(pid: number, ms: number): Promise<number> {
  let rss = rssKb(pid);
  for (const stop = performance.now() + ms; performance.now() < stop; ) {
    await sleep(Math.min(500, ms));
    rss = Math.max(rss, rssKb(pid));
  }
  return rss;
}

export interface PlanFigure {
  /** Median ms of computeDesired + computePlan on the converged host. */
  steadyMs: number;
  samples: number[];
  /** The V8 flags it ran under: the daemon's. */
  flags: string[];
}

/**
 * The resync's planning cost where it runs: a child in the host's namespace, under the daemon's
 * V8 flags, reads the config and the converged kernel once, then plans `reps` times; each plan
 * must be empty (the host is converged), or the figure is of something else.
 */
export async function planInNamespace(host: string, configDir: string, reps: number): Promise<PlanFigure> {
  const flags = [...DAEMON_NODE_FLAGS, ...DAEMON_V8_RUNTIME_FLAGS];
  const out = await nsRun(host, [process.execPath, ...flags, BENCH_JS, '__plan', JSON.stringify({ configDir, reps })], { timeoutMs: 600_000 });
  const samples = JSON.parse(out.trim().split('\n').at(-1)!) as number[];
  return { steadyMs: median(samples), samples, flags };
}

/** Child mode of planInNamespace (run inside the namespace): plan times in ms, one per rep. */
export async function timePlans(spec: { configDir: string; reps: number }): Promise<number[]> {
  const r = await loadConfig(spec.configDir);
  if (!r.ok) throw new Error(`config invalid: ${r.issues.map((i) => i.message).join('; ')}`);
  const runner = new CommandRunner(pino({ level: 'silent' }));
  const actual = await observe(runner, await probeEbtablesBackend(runner));
  const goal = { kind: 'mesh' as const, config: r.config, node: undefined };
  const times: number[] = [];
  for (let i = 0; i < spec.reps; i++) {
    const t = performance.now();
    const p = planFor(goal, actual);
    times.push(performance.now() - t);
    if (!p.plan || !isEmptyPlan(p.plan)) throw new Error(`converged host, but the plan is not empty: ${p.waiting ?? p.plan?.changes.slice(0, 3).join('; ')}`);
  }
  return times;
}
