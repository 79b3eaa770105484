/**
 * Segments at fleet size (docs/segments.md): one host runs the real daemon in a 64-server
 * flood-list mesh (the other servers are addresses only: a flood entry needs no live remote),
 * with 16 segments spanning every server, beside today's one segment at 64 servers, in one
 * run. Figures: cold start (until every segment's device is up with all 63 flood entries),
 * the resync plan on the converged host, GET /status p95, and the daemon's idle RSS.
 *
 *   npm run bench:segments [-- --servers 64 --segments 16 --out docs/bench/segments]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DaemonHost, NetnsRegistry, nsRun, peersYaml, sleep, sweepDeadNamespaces, Underlay } from '../harness/netns.js';
import { HTTP_BATCH_JS } from '../harness/paths.js';
import { fleet, planInNamespace } from './modes.js';
import { idleCostOf, median, quantile } from './measure.js';

const { values } = parseArgs({ options: { servers: { type: 'string', default: '64' }, segments: { type: 'string', default: '16' }, out: { type: 'string', default: 'docs/bench/segments' }, 'idle-seconds': { type: 'string', default: '20' } } });
const SERVERS = Number(values.servers);
const SEGMENTS = Number(values.segments);
const PREFIX = `vxg${process.pid}`;

/** The config: today's one segment (`mesh.vni`), or `count` segments spanning every server. */
function configFor(count: number): string {
  const probe = { probe: { enabled: false } };
  if (count === 1) return peersYaml(fleet(SERVERS), { mode: 'flood-list', vni: 42, ...probe });
  const segs = Array.from({ length: count }, (_, k) => `  - { name: s${k + 1}, vni: ${1001 + k} }`);
  return peersYaml(fleet(SERVERS), { mode: 'flood-list', ...probe }, `segments:\n${segs.join('\n')}`);
}

/** Zero-MAC entries per VXLAN device that is up. */
async function floodState(host: string): Promise<{ devices: number; entries: number }> {
  const fdb = JSON.parse(await nsRun(host, ['bridge', '-j', 'fdb', 'show'])) as { mac: string; ifname?: string }[];
  const up = (JSON.parse(await nsRun(host, ['ip', '-j', 'link', 'show', 'type', 'vxlan', 'up'])) as unknown[]).length;
  return { devices: up, entries: fdb.filter((e) => e.mac === '00:00:00:00:00:00').length };
}

async function measure(reg: NetnsRegistry, ul: Underlay, count: number): Promise<Record<string, number>> {
  const host = await ul.addHost(`m${count}`, ['198.18.0.1']);
  const d = new DaemonHost(reg, host);
  try {
    d.writeConfig(configFor(count));
    const want = { devices: count, entries: count * (SERVERS - 1) };
    const t0 = performance.now();
    d.start();
    let cold = NaN;
    for (const stop = t0 + 120_000; performance.now() < stop; await sleep(20)) {
      const s = await floodState(host).catch(() => ({ devices: 0, entries: 0 }));
      if (s.devices === want.devices && s.entries === want.entries) {
        cold = performance.now() - t0;
        break;
      }
    }
    if (Number.isNaN(cold)) throw new Error(`${count} segments: the mesh did not come up within 120 s`);
    await sleep(3000); // the reconcile its own changes trigger
    const plan = await planInNamespace(host, d.configDir, 20);
    const spec = { base: 'http://127.0.0.1:7789', requests: Array.from({ length: 50 }, () => ({ path: '/status' })) };
    const out = JSON.parse(await nsRun(host, [process.execPath, HTTP_BATCH_JS, JSON.stringify(spec)], { timeoutMs: 300_000 })) as { results: { status: number; ms: number }[] };
    if (out.results.some((r) => r.status !== 200)) throw new Error(`GET /status: ${out.results.map((r) => r.status).join(',')}`);
    const ms = out.results.map((r) => r.ms);
    const idle = await idleCostOf(d.proc!.pid!, Number(values['idle-seconds']) * 1000);
    return { segments: count, servers: SERVERS, coldStartMs: Math.round(cold), resyncPlanMs: Number(plan.steadyMs.toFixed(2)), statusP50Ms: Number(median(ms).toFixed(1)), statusP95Ms: Number(quantile(ms, 0.95).toFixed(1)), idleRssMb: Number(idle.rssMb.toFixed(1)), idleCpuSecPerMin: Number(idle.cpuSecPerMin.toFixed(3)) };
  } finally {
    await d.stop();
    await reg.delNs(host);
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark must run as root (it creates network namespaces)');
  sweepDeadNamespaces(/^vxg(\d+)[a-z]/);
  const reg = new NetnsRegistry(PREFIX, 'vxmesh-bench-', { signals: true });
  try {
    const ul = await Underlay.create(reg);
    const rows = [await measure(reg, ul, 1), await measure(reg, ul, SEGMENTS)];
    for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
    const outDir = resolve(values.out!);
    mkdirSync(outDir, { recursive: true });
    const machine = { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', kernel: release(), node: process.version };
    writeFileSync(join(outDir, 'bench.json'), JSON.stringify({ at: new Date().toISOString(), machine, rows }, null, 2) + '\n');
    const head = '| segments | servers | cold start | resync plan | status p50 | status p95 | idle RSS | idle CPU |\n|---|---|---|---|---|---|---|---|\n';
    const lines = rows.map((r) => `| ${r.segments} | ${r.servers} | ${r.coldStartMs} ms | ${r.resyncPlanMs} ms | ${r.statusP50Ms} ms | ${r.statusP95Ms} ms | ${r.idleRssMb} MB | ${r.idleCpuSecPerMin} s/min |`);
    writeFileSync(join(outDir, 'README.md'), `# Segments: ${SEGMENTS} segments beside one, ${SERVERS} servers, flood-list\n\nOne run of \`npm run bench:segments\` on ${machine.cpus} x ${machine.cpu}, kernel ${machine.kernel}, ${machine.node}. Every segment spans every server (${SERVERS - 1} flood entries each); probing off.\n\n${head}${lines.join('\n')}\n`);
  } finally {
    reg.cleanupSync();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:segments: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
