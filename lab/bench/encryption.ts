#!/usr/bin/env node
/**
 * `npm run bench:encryption`: clear vs encrypted, side by side in one run, on real kernel
 * objects in network namespaces made (and removed) by this process:
 *  - overlay TCP throughput between two containers on two servers (iperf3), and the machine's
 *    CPU time per GB moved (all network namespaces share the one kernel, so the machine-wide
 *    busy time from /proc/stat is what the packets cost; other load on the machine shows up as
 *    noise: run it on a quiet one);
 *  - cold start of one server with 63 remote peers: from the daemon's spawn to 63 VXLAN ports
 *    attached and up.
 * Writes bench.json under --out (default docs/bench/encryption).
 *
 *   node dist-lab/lab/bench/encryption.js [--seconds 10] [--runs 3] [--peers 64] [--out DIR]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { Lab, run, waitFor, type Server } from '../harness/netns-lab.js';
import { CLI } from '../harness/paths.js';
import { iperf, median } from './measure.js';
import { DEFAULT_BRIDGE } from '../../src/model/names.js';
import { generatePrivateKey, publicKeyOf } from '../../src/model/wireguard.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, runs: { type: 'string', default: '3' }, peers: { type: 'string', default: '64' }, out: { type: 'string', default: 'docs/bench/encryption' } } });
const SECONDS = Number(values.seconds);
const RUNS = Number(values.runs);
const PEERS = Number(values.peers);
const TUNNEL_RANGE = '100.127.0.0/16';

/** Busy and total jiffies of the whole machine. */
function cpuJiffies(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3]! + f[4]!;
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

const CLK_TCK = Number((await execa('getconf', ['CLK_TCK'], { reject: false })).stdout) || 100;

async function keygen(s: Server): Promise<string> {
  await run(process.execPath, [CLI, 'keygen', '--state-dir', s.stateDir]);
  return (await run(process.execPath, [CLI, 'pubkey', '--state-dir', s.stateDir])).trim();
}

function peersFile(mesh: string, peers: { name: string; id: number; address: string; key?: string }[]): string {
  return `mesh:\n${mesh}peers:\n${peers.map((p) => `  - { name: ${p.name}, id: ${p.id}, address: "${p.address}"${p.key ? `, public_key: "${p.key}"` : ''} }`).join('\n')}\n`;
}

function meshSettings(encrypted: boolean, device: string): string {
  return encrypted ? `  encryption: wireguard\n  wireguard: { tunnel_range: ${TUNNEL_RANGE}, device: ${device} }\n` : '  mtu: 1450\n';
}

async function upPorts(ns: string): Promise<number> {
  const links = JSON.parse(await run('ip', ['netns', 'exec', ns, 'ip', '-j', 'link', 'show', 'type', 'vxlan'])) as { master?: string; flags: string[] }[];
  return links.filter((l) => l.master === DEFAULT_BRIDGE && l.flags.includes('UP')).length;
}

interface Throughput {
  gbps: number;
  cpuSecondsPerGB: number;
  machineBusyPercent: number;
}

async function throughput(encrypted: boolean, tag: number): Promise<Throughput[]> {
  const lab = new Lab({ prefix: 'vxbe' });
  try {
    await lab.init();
    const servers = [await lab.addServer(1, { mtu: 1560 }), await lab.addServer(2, { mtu: 1560 })];
    const keys = encrypted ? await Promise.all(servers.map(keygen)) : [];
    for (const s of servers) {
      const device = `vxwgb${process.pid % 10000}${tag}${s.index}`;
      lab.removeAtCleanup(`/var/run/wireguard/${device}.sock`);
      lab.writeConfig(s, peersFile(meshSettings(encrypted, device), servers.map((p, k) => ({ name: `srv${p.index}`, id: p.index, address: p.address, ...(encrypted ? { key: keys[k]! } : {}) }))));
      lab.startDaemon(s);
    }
    for (const s of servers) await waitFor(`${s.ns} converged`, async () => (await upPorts(s.ns)) === 1, 30_000, 100);
    const [a, b] = [await lab.addContainer(servers[0]!, 1), await lab.addContainer(servers[1]!, 2)];
    await waitFor('c1 -> c2', async () => (await execa('ip', ['netns', 'exec', a.ns, 'ping', '-c', '1', '-W', '1', b.address], { reject: false })).exitCode === 0, 20_000, 200);
    const out: Throughput[] = [];
    for (let r = 0; r < RUNS; r++) {
      const before = cpuJiffies();
      const gbps = await iperf(lab.registry, b.ns, a.ns, b.address, SECONDS, 1);
      const after = cpuJiffies();
      const busyS = (after.busy - before.busy) / CLK_TCK;
      const gb = (gbps * (SECONDS + 1)) / 8;
      out.push({ gbps, cpuSecondsPerGB: busyS / gb, machineBusyPercent: (100 * (after.busy - before.busy)) / (after.total - before.total) });
    }
    return out;
  } finally {
    await lab.cleanup();
  }
}

async function coldStart(encrypted: boolean, tag: number): Promise<number> {
  const lab = new Lab({ prefix: 'vxbe' });
  try {
    await lab.init();
    const s = await lab.addServer(1, { mtu: 1560 });
    const device = `vxwgc${process.pid % 10000}${tag}`;
    lab.removeAtCleanup(`/var/run/wireguard/${device}.sock`);
    const own = encrypted ? await keygen(s) : undefined;
    const peers = Array.from({ length: PEERS }, (_, k) => ({ name: `p${k + 1}`, id: k + 1, address: k === 0 ? s.address : `198.18.${1 + (k >> 8)}.${k & 255}`, ...(encrypted ? { key: k === 0 ? own! : publicKeyOf(generatePrivateKey()) } : {}) }));
    lab.writeConfig(s, peersFile(meshSettings(encrypted, device), peers));
    const t0 = performance.now();
    lab.startDaemon(s);
    await waitFor(`${PEERS - 1} ports up`, async () => (await upPorts(s.ns)) === PEERS - 1, 60_000, 20);
    return performance.now() - t0;
  } finally {
    await lab.cleanup();
  }
}

const results: Record<string, unknown> = { machine: { cpus: cpus().length, model: cpus()[0]?.model, kernel: release(), node: process.version }, implementation: 'userspace (wireguard-go; this kernel has no wireguard module)', seconds: SECONDS, runs: RUNS };
let tag = 0;
const clear = await throughput(false, tag++);
const enc = await throughput(true, tag++);
const coldClear: number[] = [];
const coldEnc: number[] = [];
for (let r = 0; r < RUNS; r++) {
  coldClear.push(await coldStart(false, tag++));
  coldEnc.push(await coldStart(true, tag++));
}
const sum = (xs: Throughput[]) => ({ gbps: median(xs.map((x) => x.gbps)), cpuSecondsPerGB: median(xs.map((x) => x.cpuSecondsPerGB)), machineBusyPercent: median(xs.map((x) => x.machineBusyPercent)), runs: xs });
results.throughput = { clear: sum(clear), wireguard: sum(enc) };
results.coldStart = { peers: PEERS, clearMs: median(coldClear), wireguardMs: median(coldEnc), clearRunsMs: coldClear, wireguardRunsMs: coldEnc };
const outDir = resolve(values.out);
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'bench.json'), JSON.stringify(results, null, 2) + '\n');
const t = results.throughput as { clear: ReturnType<typeof sum>; wireguard: ReturnType<typeof sum> };
const c = results.coldStart as { clearMs: number; wireguardMs: number };
process.stdout.write(
  [
    `machine: ${cpus().length} x ${cpus()[0]?.model}, kernel ${release()}; WireGuard: userspace wireguard-go`,
    `overlay TCP (iperf3, ${SECONDS} s x ${RUNS}, medians):   clear ${t.clear.gbps.toFixed(2)} Gbit/s, ${t.clear.cpuSecondsPerGB.toFixed(2)} CPU-s/GB   |   wireguard ${t.wireguard.gbps.toFixed(2)} Gbit/s, ${t.wireguard.cpuSecondsPerGB.toFixed(2)} CPU-s/GB`,
    `cold start, ${PEERS} peers (${PEERS - 1} links up):       clear ${Math.round(c.clearMs)} ms   |   wireguard ${Math.round(c.wireguardMs)} ms`,
    `written: ${join(outDir, 'bench.json')}`,
    '',
  ].join('\n'),
);
