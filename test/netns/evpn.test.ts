import { readFileSync } from 'node:fs';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrrInstance } from '../../lab/harness/frr.js';
import { Lab, ns, ping, readCounter, run, statusJson, vxlanLinks, waitFor, type Container, type Server } from '../helpers/lab.js';
import { expectAllPairsPing } from '../helpers/checks.js';

/**
 * control: evpn with real FRR (Debian's zebra and bgpd, one instance per namespace in its own
 * pathspace) and the real kernel: a plain-FRR route reflector configured from the sample in
 * etc/frr/, and vxmesh servers whose config lists only themselves. Membership, remote VTEPs and
 * remote MACs come from BGP; zebra installs them; vxmesh owns the device, the bridge, the port
 * flags and its lines in FRR.
 */
const VNI = 4242;
const ASN = 65000;
const RR = '198.18.0.100';
const ZERO = '00:00:00:00:00:00';

interface FdbEntry {
  mac: string;
  dst?: string;
  flags?: string[];
  state?: string;
}

async function fdb(s: Server): Promise<FdbEntry[]> {
  return JSON.parse(await ns(s.ns, 'bridge', '-j', 'fdb', 'show', 'dev', 'vxlan0')) as FdbEntry[];
}

/** The remote VTEPs on a server's device: its all-zero entries' destinations. */
async function vteps(s: Server): Promise<string[]> {
  return (await fdb(s)).filter((e) => e.mac === ZERO).map((e) => e.dst ?? '?').sort();
}

function routeReflectorConf(): string {
  // The documented sample, with the lab's addresses for the documentation range's.
  return readFileSync('etc/frr/route-reflector.conf', 'utf8').replaceAll('192.0.2.0/24', '198.18.0.0/24').replaceAll('192.0.2.100', RR);
}

/** The shared part of the config (same file on every server) and a server's own drop-in. */
const MESH = `mesh:\n  control: evpn\n  vni: ${VNI}\n  bgp:\n    asn: ${ASN}\n    neighbors: [${RR}]\n`;
function ownDropin(s: Server): string {
  return `node: srv${s.index}\nmesh:\n  bgp:\n    frr_pathspace: ${s.ns}\npeers:\n  - { name: srv${s.index}, id: ${s.index}, address: "${s.address}" }\n`;
}

async function waitRunning(s: Server, timeoutMs = 30_000): Promise<void> {
  await waitFor(`${s.ns} running`, async () => {
    const st = await statusJson(s);
    return st.state === 'running' || `${st.state}: ${(st.reasons as string[]).join('; ')}`;
  }, timeoutMs, 100);
}

/** The EVPN session's counters on a server, as bgpd reports them. */
async function session(f: FrrInstance): Promise<{ state: string; established: number; uptimeMs: number }> {
  const s = await f.json('show bgp l2vpn evpn summary json');
  const peer = s.peers?.[RR] ?? {};
  return { state: peer.state, established: peer.connectionsEstablished, uptimeMs: peer.peerUptimeMsec };
}

describe('control: evpn through FRR, a route reflector and 3 servers that list only themselves', () => {
  const lab = new Lab();
  const frr = new Map<Server, FrrInstance>();
  let rr: FrrInstance;

  async function addEvpnServer(i: number): Promise<Server> {
    const s = await lab.addServer(i);
    const f = new FrrInstance(lab.registry, s.ns);
    await f.start();
    frr.set(s, f);
    lab.writeConfig(s, MESH);
    lab.writeConfig(s, ownDropin(s), 'peers.d/self.yaml');
    lab.startDaemon(s);
    return s;
  }

  beforeAll(async () => {
    FrrInstance.requireInstalled();
    await lab.init();
    const rrNs = await lab.addUnderlayHost('rr', RR);
    rr = new FrrInstance(lab.registry, rrNs);
    await rr.start();
    await rr.configure(routeReflectorConf());
    for (let i = 1; i <= 3; i++) await addEvpnServer(i);
    for (const s of lab.servers) await waitRunning(s);
    for (const s of lab.servers) await lab.addContainer(s, s.index);
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  it('builds the device FRR expects: local address, nolearning, no remote, the mesh port, port learning off and neigh_suppress on', async () => {
    for (const s of lab.servers) {
      const v = await vxlanLinks(s.ns);
      expect(v.map((l) => l.ifname)).toEqual(['vxlan0']);
      const d = v[0]! as any;
      expect(d.ifalias).toBe('vxmesh:evpn');
      expect(d.master).toBe('vxbr0');
      expect(d.mtu).toBe(1450);
      expect(d.linkinfo.info_data).toMatchObject({ id: VNI, local: s.address, port: 4789, learning: false });
      expect(d.linkinfo.info_data.remote).toBeUndefined();
      expect(d.linkinfo.info_slave_data).toMatchObject({ learning: false, neigh_suppress: true });
    }
  });

  it('writes its lines into FRR and zebra takes up the VNI', async () => {
    for (const s of lab.servers) {
      const f = frr.get(s)!;
      const conf = await f.vtysh('show running-config');
      expect(conf).toContain(`router bgp ${ASN}`);
      expect(conf).toContain(` bgp router-id ${s.address}`);
      expect(conf).toContain(` neighbor ${RR} peer-group vxmesh`);
      expect(conf).toMatch(/address-family l2vpn evpn\n\s+neighbor vxmesh activate\n\s+advertise-all-vni/);
      const vni = await f.json('show evpn vni json');
      expect(vni[String(VNI)]).toMatchObject({ vni: VNI, vxlanIf: 'vxlan0' });
      await waitFor(`${s.ns} session to the reflector`, async () => (await session(f)).state === 'Established' || JSON.stringify(await session(f)), 30_000, 200);
    }
  });

  it('every container pings every other (DF 1422 at MTU 1450); each fdb holds exactly the other VTEPs, from zebra, and remote MACs as extern_learn', async () => {
    for (const s of lab.servers) {
      const others = lab.servers.filter((o) => o !== s).map((o) => o.address).sort();
      await waitFor(`${s.ns} remote VTEPs`, async () => JSON.stringify(await vteps(s)) === JSON.stringify(others) || JSON.stringify(await vteps(s)), 30_000, 200);
    }
    await expectAllPairsPing(lab);
    for (const s of lab.servers) {
      const entries = await fdb(s);
      const zero = entries.filter((e) => e.mac === ZERO);
      expect(zero.map((e) => e.dst).sort()).toEqual(lab.servers.filter((o) => o !== s).map((o) => o.address).sort());
      // zebra's entries: permanent, without the `via` mark vxmesh puts on the flood entries it writes.
      for (const e of zero) expect(e.state).toBe('permanent');
      const remoteMacs = entries.filter((e) => e.mac !== ZERO && e.dst !== undefined);
      const others = lab.containers.filter((c) => c.server !== s).length;
      expect(remoteMacs.length, JSON.stringify(remoteMacs)).toBeGreaterThanOrEqual(others);
      for (const e of remoteMacs) expect(e.flags ?? [], JSON.stringify(e)).toContain('extern_learn');
    }
  });

  it('ARP suppression: an ARP for a remote container is answered on the local host, and the underlay carries no copy of it (an ARP for an unknown address does cross: the counter counts)', async () => {
    const [c1, c2] = lab.containers as [Container, Container];
    const s1 = c1.server;
    // zebra learns a local container's address from the bridge's neighbour table, which Linux
    // fills for hosts that talk to an address of the bridge (their gateway; docs/evpn.md).
    for (const c of lab.containers) {
      await ns(c.server.ns, 'ip', 'addr', 'replace', `100.64.0.${250 + c.server.index}/24`, 'dev', 'vxbr0');
      expect(await ping(c, `100.64.0.${250 + c.server.index}`)).toBe(true);
    }
    // zebra has the remote container's address from its type-2 route, as a neighbour entry on the bridge.
    await waitFor(`${s1.ns} has ${c2.address} from BGP`, async () => {
      const n = await ns(s1.ns, 'ip', '-j', 'neigh', 'show', 'dev', 'vxbr0');
      return (JSON.parse(n) as { dst: string }[]).some((e) => e.dst === c2.address) || `neighbours on vxbr0: ${n}; zebra: ${await frr.get(s1)!.vtysh('show evpn arp-cache vni all')}`;
    }, 30_000, 250);
    await countArpInVxlan(lab.underlay);
    await ns(c1.ns, 'ip', 'neigh', 'flush', 'dev', 'eth0');
    expect(await ping(c1, c2.address)).toBe(true);
    expect(await readCounter(lab.underlay, 'vxarp')).toBe(0);
    // An address nobody has is flooded to every VTEP (head-end replication of the BUM frame).
    await execa('ip', ['netns', 'exec', c1.ns, 'ping', '-c', '2', '-W', '1', '100.64.0.200'], { reject: false });
    expect(await readCounter(lab.underlay, 'vxarp')).toBeGreaterThanOrEqual(2);
  });
});

/** Count VXLAN packets on the underlay whose inner frame is ARP (ethertype at UDP payload offset 8 + 12). */
async function countArpInVxlan(underlayNs: string): Promise<void> {
  await run('ip', ['netns', 'exec', underlayNs, 'nft', '-f', '-'], `table bridge vxarp
delete table bridge vxarp
table bridge vxarp {
  counter vxarp {}
  chain f { type filter hook forward priority 0; udp dport 4789 @th,224,16 0x0806 counter name vxarp; }
}
`);
}
