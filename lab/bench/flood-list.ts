/**
 * flood-list mode at fleet sizes per-peer mode cannot reach: one host runs the real daemon with
 * an n-peer flood-list config (the other peers are addresses only: an fdb entry needs no live
 * remote), and the pure planner runs on the same config.
 */
import { parseConfig } from '../../src/config/load.js';
import { BRIDGE_ALIAS } from '../../src/model/names.js';
import type { ActualState, LinkInfo } from '../../src/model/state.js';
import type { Config } from '../../src/model/types.js';
import { computeDesired } from '../../src/plan/desired.js';
import { computePlan, isEmptyPlan } from '../../src/plan/plan.js';
import { expectedRules } from '../../src/plan/ingress.js';
import { median, rssKb } from './measure.js';
import { DaemonHost, nsRun, peersYaml, sleep, type NetnsRegistry, type Underlay } from '../harness/netns.js';
import { HTTP_BATCH_JS } from '../harness/paths.js';
import { ebtablesRules } from './watch.js';

// Probing off, as in the other figures: its cost is bench:probe's figure.
const MESH = { mode: 'flood-list', vni: 42, probe: { enabled: false } };

/** Peer ids 1..count at 198.18.<id / 256>.<id % 256>: self (id 1) is 198.18.0.1. */
function fleet(count: number): { name: string; id: number; address: string }[] {
  return Array.from({ length: count }, (_, k) => ({ name: `srv${k + 1}`, id: k + 1, address: `198.18.${(k + 1) >> 8}.${(k + 1) & 255}` }));
}

function config(n: number): Config {
  const r = parseConfig([{ path: 'peers.yaml', text: peersYaml(fleet(n), MESH) }]);
  if (!r.ok) throw new Error(`flood-list config invalid: ${JSON.stringify(r.issues.slice(0, 2))}`);
  return r.config;
}

/** Pure: plan time on an empty host (cold) and on a converged one (every resync). */
export function floodListPlan(n: number, reps: number): { coldMs: number; steadyMs: number; fdbLines: number } {
  const cfg = config(n);
  const self = cfg.peers[0]!;
  const d = computeDesired(cfg, self, 'eth0');
  const stats = { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 };
  const base = { isolated: undefined, addresses: [], stats, vxlan: undefined, master: undefined, alias: undefined, up: true };
  const empty: ActualState = { links: new Map([['eth0', { ...base, name: 'eth0', ifindex: 1, kind: 'veth', mtu: 1500, addresses: [self.address] }]]), ebtables: { available: true, error: undefined, chainExists: false, chain: [], jumps: 0 }, ingress: { available: true, error: undefined, present: false, peers4: [], peers6: [], rules: [], dropped: 0, droppedBytes: 0 } };
  const dev: LinkInfo = { ...base, name: 'vxlan0', ifindex: 3, kind: 'vxlan', mtu: 1450, master: 'vxbr0', alias: 'vxmesh:flood-list', vxlan: { vni: 42, remote: undefined, local: self.address, link: 'eth0', port: 4789, learning: true, group: undefined, ttl: 0 }, defaultDsts: [...d.single!.floodList], ownDefaultDsts: [...d.single!.floodList] };
  const converged: ActualState = {
    links: new Map([...empty.links, ['vxbr0', { ...base, name: 'vxbr0', ifindex: 2, kind: 'bridge', mtu: 1450, alias: BRIDGE_ALIAS }], ['vxlan0', dev]]),
    ebtables: empty.ebtables,
    ingress: { ...empty.ingress, present: true, peers4: [...d.ingress!.peers4], rules: expectedRules(4789) },
  };
  const cold: number[] = [];
  const steady: number[] = [];
  let fdbLines = 0;
  for (let i = 0; i < reps; i++) {
    let t = performance.now();
    const cold0 = computePlan(computeDesired(cfg, self, 'eth0'), empty);
    fdbLines = cold0.steps.filter((st) => st.tool === 'bridge').reduce((k, st) => k + (st.input ?? '').split('\n').filter(Boolean).length, 0);
    cold.push(performance.now() - t);
    t = performance.now();
    const p = computePlan(computeDesired(cfg, self, 'eth0'), converged);
    steady.push(performance.now() - t);
    if (!isEmptyPlan(p)) throw new Error(`flood-list converged plan not empty: ${p.changes.slice(0, 3).join('; ')}`);
  }
  return { coldMs: median(cold), steadyMs: median(steady), fdbLines };
}

export interface FloodListLive {
  coldMs: number;
  addMs: number;
  driftMs: number;
  statusMs: number[];
  rssMb: number;
  devices: number;
  fdbEntries: number;
  ebtablesRules: number;
}

async function floodEntries(host: string): Promise<Set<string>> {
  const all = JSON.parse(await nsRun(host, ['bridge', '-j', 'fdb', 'show', 'dev', 'vxlan0']).catch(() => '[]')) as { mac: string; dst?: string }[];
  return new Set(all.filter((e) => e.mac === '00:00:00:00:00:00' && e.dst).map((e) => e.dst!));
}

/** Poll (every 10 ms, at most `timeoutMs`) until `done`; the time from `t0`. */
async function until(what: string, done: () => Promise<boolean>, t0: number, timeoutMs = 60_000): Promise<number> {
  for (;;) {
    if (await done()) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** The real daemon with an n-peer flood-list config: cold start, a peer added, drift, GET /status, RSS. */
export async function floodListLive(reg: NetnsRegistry, ul: Underlay, n: number, idleMs: number, settleMs = 2000): Promise<FloodListLive> {
  const host = await ul.addHost('f', ['198.18.0.1']);
  const d = new DaemonHost(reg, host);
  try {
    d.start();
    await d.waitRunning();
    await sleep(300); // the config watcher is ready
    const t0 = d.writeConfig(peersYaml(fleet(n), MESH));
    const coldMs = await until(`${n - 1} flood entries`, async () => (await floodEntries(host)).size === n - 1, t0);
    const devices = (JSON.parse(await nsRun(host, ['ip', '-j', '-d', 'link', 'show', 'type', 'vxlan'])) as unknown[]).length;
    const fdbEntries = (await floodEntries(host)).size;
    const ebtables = (await ebtablesRules(host)).vxmesh.length;
    await sleep(settleMs); // the reconcile its own changes trigger
    const extra = fleet(n + 1).at(-1)!.address;
    const t1 = d.writeConfig(peersYaml(fleet(n + 1), MESH));
    const addMs = await until('the new peer\'s entry', async () => (await floodEntries(host)).has(extra), t1);
    await sleep(settleMs / 2);
    const t2 = performance.now();
    await nsRun(host, ['bridge', 'fdb', 'del', '00:00:00:00:00:00', 'dev', 'vxlan0', 'dst', extra, 'via', 'eth0']);
    const driftMs = await until('the deleted entry back', async () => (await floodEntries(host)).has(extra), t2);
    await sleep(settleMs / 2);
    const pid = d.proc?.pid;
    let rss = 0;
    for (const stop = performance.now() + idleMs; performance.now() < stop; ) {
      rss = Math.max(rss, pid ? rssKb(pid) : 0);
      await sleep(1000);
    }
    const spec = { base: 'http://127.0.0.1:7789', requests: Array.from({ length: 20 }, () => ({ path: '/status' })) };
    const out = JSON.parse(await nsRun(host, [process.execPath, HTTP_BATCH_JS, JSON.stringify(spec)], { timeoutMs: 120_000 })) as { results: { status: number; ms: number }[] };
    if (out.results.some((r) => r.status !== 200)) throw new Error(`GET /status: ${out.results.map((r) => r.status).join(',')}`);
    return { coldMs, addMs, driftMs, statusMs: out.results.map((r) => r.ms), rssMb: rss / 1024, devices, fdbEntries, ebtablesRules: ebtables };
  } finally {
    await d.stop();
    await reg.delNs(host);
  }
}
