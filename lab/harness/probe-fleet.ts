/**
 * Stands in for a fleet of peers' probe responders, from one process in one namespace: one
 * UDP socket per peer probe address (all on one bridge), answering the probes of `target`
 * and probing it back every interval, as that many daemons would. Used by the benchmark as
 * `ip netns exec NS node dist-lab/lab/harness/probe-fleet.js SPEC`; SPEC is JSON (see FleetSpec). Runs
 * until killed; prints "ready" once every socket is bound.
 */
import { createSocket, type Socket } from 'node:dgram';
import { encodeProbe, parseProbe, type ProbeInfo } from '../../src/health/wire.js';
import { probeAddress } from '../../src/model/probe-address.js';

export interface FleetSpec {
  family: 4 | 6;
  bridge: string;
  port: number;
  target: number;
  intervalMs: number;
  mtu: number;
  peers: { id: number; name: string; vni: number }[];
  facts: Omit<ProbeInfo, 'node' | 'vni' | 'version'>;
  version: string;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as FleetSpec;
const scope = (a: string) => (spec.family === 6 ? `${a}%${spec.bridge}` : a);
const targetAddress = scope(probeAddress(spec.target, spec.family)!);
const fullSize = spec.mtu - (spec.family === 6 ? 48 : 28);
let seq = 1;

async function bindPeer(p: FleetSpec['peers'][number]): Promise<Socket> {
  const sock = createSocket({ type: spec.family === 6 ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ address: scope(probeAddress(p.id, spec.family)!), port: spec.port }, () => resolve());
  });
  const info: ProbeInfo = { ...spec.facts, node: p.name, vni: p.vni, version: spec.version };
  sock.on('message', (buf, rinfo) => {
    const r = parseProbe(buf, undefined);
    if (!r.ok || r.message.kind !== 'request' || r.message.sender !== spec.target) return;
    sock.send(encodeProbe({ kind: 'response', seq: r.message.seq, sender: p.id, target: spec.target, info, size: buf.length }, undefined), rinfo.port, rinfo.address);
  });
  // As the daemon does: one probe a round, every third one full-size.
  let rounds = 0;
  const round = () => {
    const size = rounds++ % 3 === 2 ? fullSize : 0;
    sock.send(encodeProbe({ kind: 'request', seq: seq++, sender: p.id, target: spec.target, size }, undefined), spec.port, targetAddress);
    setTimeout(round, spec.intervalMs * (0.8 + 0.4 * Math.random()));
  };
  setTimeout(round, Math.random() * spec.intervalMs);
  return sock;
}

await Promise.all(spec.peers.map(bindPeer));
process.stdout.write('ready\n');
