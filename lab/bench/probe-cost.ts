/**
 * What link probing costs an idle daemon at 64 peers, side by side: probing off; probing on
 * with every peer answering; probing on with every peer's daemon down (data plane up), where
 * the backed-off tunnel checks run. One daemon host; the 64 peers are one namespace holding
 * their underlay addresses, one VXLAN device per link (isolated ports on one bridge) and the
 * fleet's probe responder (lab/harness/probe-fleet.ts), so every probe crosses a real tunnel.
 *
 *   npm run bench:probe -- [--peers 64] [--seconds 60] [--out docs/bench]
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../../src/config/load.js';
import { computeConfigFacts } from '../../src/health/agreement.js';
import { VERSION as VXMESH_VERSION } from '../../src/version.js';
import { pairVni } from '../../src/model/vni.js';
import { MESH_DEFAULTS } from '../../src/model/types.js';
import { idleCostOf, median } from './measure.js';
import { DaemonHost, NetnsRegistry, nsRun, peersYaml, sleep, sweepDeadNamespaces, Underlay } from '../harness/netns.js';
import { HTTP_BATCH_JS, LAB_DIST, ROOT } from '../harness/paths.js';
import type { FleetSpec } from '../harness/probe-fleet.js';

const FLEET_JS = join(LAB_DIST, 'harness/probe-fleet.js');
const PREFIX = `vxp${process.pid}`;
const VNI_BASE = 100000;

const { values } = parseArgs({ options: { peers: { type: 'string' }, seconds: { type: 'string' }, out: { type: 'string', default: 'docs/bench' } } });
const n = Number(values.peers ?? 64);
const windowMs = Number(values.seconds ?? 60) * 1000;
if (!(n >= 1 && n <= 200)) throw new Error('--peers must be 1-200');

const log = (m: string) => process.stderr.write(`probe-cost: ${m}\n`);
const remote = (id: number) => `198.18.1.${id}`;

async function status(ns: string): Promise<Record<string, any>> {
  const out = await nsRun(ns, [process.execPath, HTTP_BATCH_JS, JSON.stringify({ base: 'http://127.0.0.1:7789', requests: [{ path: '/status' }] })]);
  return JSON.parse((JSON.parse(out) as { results: { body: string }[] }).results[0]!.body) as Record<string, any>;
}

async function until(what: string, ns: string, ok: (s: Record<string, any>) => boolean, timeoutMs = 90_000): Promise<Record<string, any>> {
  const start = Date.now();
  for (;;) {
    const s = await status(ns).catch(() => undefined);
    if (s && ok(s)) return s;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

sweepDeadNamespaces(/^vxp(\d+)[a-z]/);
const reg = new NetnsRegistry(PREFIX, 'vxmesh-probe-cost-', { signals: true });
const ul = await Underlay.create(reg);
const ids = Array.from({ length: n }, (_, k) => k + 2);
const host = await ul.addHost('h', ['198.18.0.1']);
const fleetNs = await ul.addHost('f', ids.map(remote));

// The fleet's side of every link: one device per peer, isolated ports, the peers' probe addresses.
const lines = ['link add rbr type bridge', 'link set rbr mtu 1450 up'];
for (const id of ids) {
  lines.push(
    `link add vx${id} mtu 1450 type vxlan id ${pairVni(1, id, VNI_BASE)} remote 198.18.0.1 local ${remote(id)} dev eth0 dstport 4789 nolearning`,
    `link set vx${id} master rbr`,
    `link set vx${id} type bridge_slave isolated on`,
    `link set vx${id} up`,
    `addr add 169.254.1.${id}/16 dev rbr`,
  );
}
await nsRun(fleetNs, ['ip', '-batch', '-'], { input: lines.join('\n') + '\n' });
// 64 real peers are 64 kernels, each limiting its ICMP errors to us on its own; here one kernel
// stands in for all of them, so its per-destination limit is lifted (the knock's "port
// unreachable" would otherwise be rate-limited to about one a second for the whole fleet).
await nsRun(fleetNs, ['sysctl', '-qw', 'net.ipv4.icmp_ratelimit=0']);

const peers = [{ name: 'srv1', id: 1, address: '198.18.0.1' }, ...ids.map((id) => ({ name: `srv${id}`, id, address: remote(id) }))];
const daemon = new DaemonHost(reg, host);
const yaml = (on: boolean) => peersYaml(peers, { probe: { enabled: on } });
daemon.writeConfig(yaml(false));
daemon.start();
await daemon.waitRunning();
await until(`${n} links up`, host, (s) => s.links.filter((l: any) => l.up && l.attached).length === n);
const pid = daemon.proc!.pid!;

const rows: { phase: string; rssMb: number; cpuSecPerMin: number; userSecPerMin: number; extra: string }[] = [];
const measure = async (phase: string, extra: () => Promise<string>) => {
  await sleep(5000);
  log(`${phase}: measuring ${windowMs / 1000} s`);
  const c = await idleCostOf(pid, windowMs);
  rows.push({ phase, rssMb: c.rssMb, cpuSecPerMin: c.cpuSecPerMin, userSecPerMin: c.userSecPerMin, extra: await extra() });
  log(`${phase}: rss ${c.rssMb.toFixed(1)} MB, cpu ${c.cpuSecPerMin.toFixed(3)} s/min (user ${c.userSecPerMin.toFixed(3)})`);
};

await measure('probing off', async () => '');

const cfg = parseConfig([{ path: 'peers.yaml', text: yaml(true) }]);
if (!cfg.ok) throw new Error('bad config');
const facts = computeConfigFacts(cfg.config);
const spec: FleetSpec = {
  family: 4, bridge: 'rbr', port: 7790, target: 1, intervalMs: MESH_DEFAULTS.probe.intervalMs, mtu: 1450, version: VXMESH_VERSION,
  peers: ids.map((id) => ({ id, name: `srv${id}`, vni: pairVni(1, id, VNI_BASE) })),
  facts: { mtu: facts.mtu, port: facts.port, peers: facts.peers, peersDigest: facts.peersDigest, meshDigest: facts.meshDigest },
};
const fleet = reg.spawn(fleetNs, [process.execPath, FLEET_JS, JSON.stringify(spec)], { pipe: true });
await new Promise<void>((resolve, reject) => {
  fleet.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
  void fleet.then((r) => reject(new Error(`fleet exited: ${String(r.stderr ?? '')}`)));
});
daemon.writeConfig(yaml(true));
let s = await until(`all ${n} links ok through the tunnel`, host, (x) => x.links.every((l: any) => l.health?.state === 'ok'));
const sent0 = s.probe.sent as number;
const t0 = Date.now();
await measure(`probing on, ${n} peers answering`, async () => {
  s = await status(host);
  const rtts = s.links.map((l: any) => l.health?.rttAvgMs as number).filter((x: number | null) => x !== null);
  const rate = ((s.probe.sent as number) - sent0) / ((Date.now() - t0) / 1000);
  return `RTT median ${median(rtts).toFixed(2)} ms (max ${Math.max(...rtts).toFixed(2)} ms), ${rate.toFixed(1)} probes/s sent, ${s.links.filter((l: any) => l.health?.state === 'ok').length}/${n} links ok`;
});

await reg.kill(fleet);
await until(`all ${n} links "daemon not answering"`, host, (x) => x.links.every((l: any) => l.health?.tunnelIcmp === true), 180_000);
await measure(`probing on, ${n} peers' daemons down (data plane up)`, async () => {
  s = await status(host);
  return `${s.links.filter((l: any) => l.health?.state === 'warning').length}/${n} links warning, state ${s.state}; window includes the backed-off checks (a knock each: no process)`;
});

await daemon.stop();
const md = [
  `# Link probing: idle cost at ${n} peers`,
  '',
  `Measured ${new Date().toISOString()}; \`npm run bench:probe -- --peers ${n} --seconds ${windowMs / 1000}\`; default interval ${MESH_DEFAULTS.probe.intervalMs / 1000} s;`,
  'one daemon host, the peers as one namespace with a real VXLAN tunnel per link and a responder standing in for their daemons (lab/harness/probe-fleet.ts).',
  'CPU counts the daemon and every process it ran (resync, checks); "user" is the daemon\'s own code, the rest is kernel time, which on one machine may include the',
  'tunnel path of both ends (encapsulation, bridges, and the far side\'s decapsulation when it runs in the sender\'s context). Memory is the daemon\'s resident set (max of samples).',
  '',
  '| phase | RSS | CPU | of which user | notes |',
  '|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.phase} | ${r.rssMb.toFixed(1)} MB | ${r.cpuSecPerMin.toFixed(3)} s/min | ${r.userSecPerMin.toFixed(3)} s/min | ${r.extra} |`),
  '',
].join('\n');
writeFileSync(resolve(ROOT, values.out!, 'probe-cost.md'), md);
process.stdout.write(md);
reg.cleanupSync();
process.exit(0);
