/**
 * `npm run demo`: a local mesh of servers in network namespaces, each running the real
 * vxmesh daemon, with a container on each. Shows every server's status, proves traffic
 * flows (ping between every pair of containers, one iperf3 run), adds a server by editing
 * peers.yaml while traffic runs (no packet lost), then cleans up, also on
 * Ctrl-C. Nothing is created in the machine's own namespace.
 */
import { execa } from 'execa';
import { CLI, Lab, buildMesh, ns, peersYaml, ping, run, statusJson, waitFor, waitForConverged, type Container, type Server } from '../harness/netns-lab.js';

const SERVERS = Number(process.env.VXMESH_DEMO_SERVERS ?? 3);

/** `npm run demo -- --mode flood-list` (or multicast): the mesh settings of each mode. */
const MODES: Record<string, Record<string, unknown>> = {
  'per-peer': {},
  'flood-list': { mode: 'flood-list', vni: 4242 },
  multicast: { mode: 'multicast', vni: 4243, group: '239.1.1.1' },
};
const modeArg = process.argv.indexOf('--mode');
const MODE = modeArg >= 0 ? (process.argv[modeArg + 1] ?? '') : 'per-peer';
const MESH = MODES[MODE];

async function main(): Promise<number> {
  if (!MESH) {
    process.stderr.write(`demo: --mode must be one of ${Object.keys(MODES).join(', ')}\n`);
    return 2;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('demo: must run as root (it creates network namespaces)\n');
    return 1;
  }
  const lab = new Lab({ prefix: 'vxdemo' });
  const stop = () => {
    void lab.cleanup().then(() => process.exit(130));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    say(`Building ${SERVERS} servers (namespaces ${lab.prefix}s1..s${SERVERS}) on one underlay, each running \`vxmesh daemon\` in ${MODE} mode...`);
    // Each server gets the same peers, listed in its own order: the VNIs still agree.
    await buildMesh(lab, SERVERS, { mesh: MESH, order: (i, list) => [...list.slice(i - 1), ...list.slice(0, i - 1)] });
    say('\n=== Traffic: every container pings every other across the overlay ===');
    let failures = 0;
    for (const a of lab.containers) {
      for (const b of lab.containers) {
        if (a === b) continue;
        const ok = await ping(a, b.address);
        const df = await ping(a, b.address, ['-M', 'do', '-s', '1422']);
        if (!ok || !df) failures++;
        say(`  ${a.address} (on ${a.server.ns}) -> ${b.address} (on ${b.server.ns}): ping ${ok ? 'ok' : 'FAILED'}, 1450-byte DF ping ${df ? 'ok' : 'FAILED'}`);
      }
    }
    const [c1, c2] = lab.containers;
    if (c1 && c2) {
      await ns(c2.ns, 'sh', '-c', 'iperf3 -s -1 -D');
      await new Promise((r) => setTimeout(r, 300));
      const out = await run('ip', ['netns', 'exec', c1.ns, 'iperf3', '-c', c2.address, '-t', '2', '-J']);
      const bps = (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second;
      say(`\n=== iperf3 ${c1.address} -> ${c2.address} for 2 s over VXLAN: ${(bps / 1e9).toFixed(2)} Gbit/s ===`);
    }
    if (c1 && c2) failures += await addServerLive(lab, c1, c2);
    for (const s of lab.servers) {
      say(`\n=== ${s.ns} (underlay ${s.address}): vxmesh status (after the traffic) ===`);
      const r = await execa('ip', ['netns', 'exec', s.ns, process.execPath, CLI, 'status', '--state-dir', s.stateDir], { reject: false });
      process.stdout.write(r.stdout + '\n');
    }
    say(failures === 0 ? '\nThe mesh carries traffic between every pair of containers.' : `\n${failures} container pairs could not reach each other.`);
    return failures === 0 ? 0 : 1;
  } finally {
    say('Cleaning up the demo namespaces.');
    await lab.cleanup();
  }
}

/**
 * A live edit: a new server joins by saving a new peers.yaml on every server, while one
 * container pings another every 20 ms. Returns the number of failures (lost pings or a new
 * container that cannot be reached).
 */
async function addServerLive(lab: Lab, c1: Container, c2: Container): Promise<number> {
  const index = lab.servers.length + 1;
  say(`\n=== Live edit: adding server ${index} to peers.yaml on every server while ${c1.address} pings ${c2.address} every 20 ms ===`);
  const pinger = execa('ip', ['netns', 'exec', c1.ns, 'ping', '-i', '0.02', '-c', '150', '-W', '1', c2.address], { reject: false, timeout: 30_000 });
  const added = await lab.addServer(index);
  for (const s of lab.servers) lab.writeConfig(s, peersYaml(lab.servers, MESH));
  lab.startDaemon(added);
  const started = Date.now();
  for (const s of lab.servers) await converged(s, lab.servers.length - 1);
  say(`  every server has ${lab.servers.length - 1} links ${Date.now() - started} ms after the save`);
  const c = await lab.addContainer(added, index);
  const r = await pinger;
  const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
  const lost = m ? Number(m[1]) - Number(m[2]) : 150;
  const reach = await ping(c1, c.address);
  say(`  pings during the edit: ${m ? `${m[2]} of ${m[1]} answered, ${lost} lost` : 'no summary'}; ${c1.address} -> new ${c.address}: ${reach ? 'ok' : 'FAILED'}`);
  return (lost > 0 ? 1 : 0) + (reach ? 0 : 1);
}

/** per-peer: one attached port per remote; one-device modes: status running with every peer listed. */
async function converged(s: Server, remotes: number): Promise<void> {
  if (MODE === 'per-peer') return waitForConverged(s, remotes);
  await waitFor(`${s.ns} running with ${remotes} peers`, async () => {
    const st = await statusJson(s);
    return (st.state === 'running' && st.links.length === remotes) || `${st.state}, ${st.links.length} peers`;
  }, 15_000);
}

function say(line: string): void {
  process.stdout.write(line + '\n');
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
