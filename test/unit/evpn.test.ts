import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { evpnStatus, type EvpnRead } from '../../src/evpn/status.js';
import { frrVerdicts } from '../../src/cli/doctor-frr.js';
import { config } from '../helpers/config.js';
import { emptyHost, link, phases } from '../helpers/kernel-state.js';
import { formatIssue, parseConfig, type LoadResult } from '../../src/config/load.js';
import { computeDesired } from '../../src/plan/desired.js';
import { computePlan, computeTeardown, isEmptyPlan, renderPlan } from '../../src/plan/plan.js';
import { isOwnedFrrLine, parseRunningConfig, planFrr, renderFrrFragment, type FrrDesired } from '../../src/evpn/frr-config.js';
import { planFrrStep } from '../../src/evpn/frr-plan.js';
import { parseFrrRead } from '../../src/kernel/frr-observe.js';
import { learnedVteps, withVteps } from '../../src/evpn/vteps.js';
import { parseDeviceFdb } from '../../src/kernel/parse.js';
import { planFor } from '../../src/daemon/reconcile.js';
import type { ActualState } from '../../src/model/state.js';
import type { FrrState } from '../../src/model/frr.js';

const MAIN = '/etc/vxmesh/peers.yaml';
const SELF = 'peers:\n  - { name: a, id: 1, address: 198.18.0.1 }\n';
const EVPN = `mesh:\n  control: evpn\n  vni: 4242\n  bgp:\n    asn: 65000\n    neighbors: [198.18.0.100, 198.18.0.101]\n${SELF}`;

function errors(r: LoadResult): string[] {
  if (r.ok) throw new Error('expected errors, config was accepted');
  return r.issues.map(formatIssue);
}
const parse = (text: string, dropin?: string) => parseConfig([{ path: MAIN, text }, ...(dropin ? [{ path: '/etc/vxmesh/peers.d/self.yaml', text: dropin }] : [])]);

describe('control: evpn config', () => {
  it('defaults to static; evpn takes the one-device shape with the segment VNI and the BGP settings, with this server alone in peers', () => {
    expect(config(`${SELF}  - { name: b, id: 2, address: 198.18.0.2 }\n`).mesh).toMatchObject({ control: 'static', bgp: undefined, mode: 'per-peer' });
    const c = config(EVPN);
    expect(c.mesh).toMatchObject({ control: 'evpn', mode: 'evpn', vni: 4242, device: 'vxlan0', bgp: { asn: 65000, routerId: undefined, neighbors: ['198.18.0.100', '198.18.0.101'], frrPathspace: undefined } });
    expect(c.peers.map((p) => p.name)).toEqual(['a']);
  });

  it('merges bgp key by key across files: a server drop-in adds its pathspace and router id', () => {
    const r = parse(EVPN, 'mesh:\n  bgp: { frr_pathspace: srv1, router_id: 10.0.0.1 }\n');
    expect(r.ok && r.config.mesh.bgp).toEqual({ asn: 65000, routerId: '10.0.0.1', neighbors: ['198.18.0.100', '198.18.0.101'], frrPathspace: 'srv1' });
    expect(errors(parse(EVPN, 'mesh:\n  bgp:\n    asn: 65001\n'))).toEqual(['/etc/vxmesh/peers.d/self.yaml:3:10: mesh.bgp.asn: is 65001 here but 65000 at /etc/vxmesh/peers.yaml:5:10']);
  });

  it('refuses encryption with evpn (zebra advertises the underlay address: its VXLAN would cross in clear)', () => {
    const key = 'EEXYfPXgAloV2fOKXmOurH9x7YOi4MwX3HKDUkBy5lQ=';
    const text = `mesh:\n  control: evpn\n  encryption: wireguard\n  vni: 5\n  bgp: { asn: 65000, neighbors: [198.18.0.100] }\npeers:\n  - { name: a, id: 1, address: 198.18.0.1, public_key: "${key}" }\n`;
    expect(errors(parse(text))).toContain('/etc/vxmesh/peers.yaml:3:15: mesh.encryption: wireguard with control: evpn is not supported yet (EVPN advertises the underlay address as the VTEP, so its VXLAN would cross in clear); use control: static with mode flood-list or per-peer for an encrypted mesh');
  });

  it('says what is missing or wrong, and where', () => {
    expect(errors(parse(`mesh:\n  control: evpn\n${SELF}`))).toEqual([
      '/etc/vxmesh/peers.yaml:2:12: mesh.vni: is required with control: evpn (the VNI of the segment, 1-16777215)',
      '/etc/vxmesh/peers.yaml:2:12: mesh.bgp: is required with control: evpn (asn and neighbors: the route reflectors or peers this server speaks BGP to)',
    ]);
    expect(errors(parse(`mesh:\n  control: evpn\n  vni: 5\n  bgp: { asn: 65000 }\n${SELF}`))).toEqual([
      '/etc/vxmesh/peers.yaml:4:15: mesh.bgp.neighbors: is required with control: evpn (the addresses of the route reflectors or peers)',
    ]);
    expect(errors(parse(`mesh:\n  control: evpn\n  mode: flood-list\n  vni: 5\n  bgp: { asn: 65000, neighbors: [198.18.0.100] }\n${SELF}`))[0]).toMatch(/^\/etc\/vxmesh\/peers\.yaml:3:9: mesh\.mode: must not be set with control: evpn/);
    expect(errors(parse(`mesh:\n  control: bgp\n${SELF}`))[0]).toMatch(/^\/etc\/vxmesh\/peers\.yaml:2:12: mesh\.control: Invalid option: expected one of "static"\|"evpn"/);
    expect(errors(parse(`mesh:\n  control: evpn\n  vni: 5\n  bgp: { asn: 0, neighbors: [198.18.0.100] }\n${SELF}`))[0]).toMatch(/^\/etc\/vxmesh\/peers\.yaml:4:15: mesh\.bgp\.asn: /);
    expect(errors(parse(`mesh:\n  control: evpn\n  vni: 5\n  bgp: { asn: 65000, neighbors: [rr1] }\n${SELF}`))).toEqual(['/etc/vxmesh/peers.yaml:4:34: mesh.bgp.neighbors[0]: is not an IPv4 or IPv6 address']);
    expect(errors(parse(`mesh:\n  control: evpn\n  vni: 5\n  bgp: { asn: 65000, neighbors: [], router_id: "2001:db8::1" }\n${SELF}`))).toEqual([
      '/etc/vxmesh/peers.yaml:4:48: mesh.bgp.router_id: must be an IPv4 address (a BGP router id is 32 bits)',
      '/etc/vxmesh/peers.yaml:4:33: mesh.bgp.neighbors: needs at least one neighbor (a route reflector or a peer)',
    ]);
    expect(errors(parse(`mesh:\n  control: evpn\n  vni: 5\n  bgp: { asn: 65000, neighbors: ["2001:2::100"] }\npeers:\n  - { name: a, id: 1, address: "2001:2::1" }\n`))).toEqual([
      "/etc/vxmesh/peers.yaml:6:32: peers[0].address: is IPv6: set mesh.bgp.router_id (a BGP router id is an IPv4 address; it defaults to the server's underlay IPv4 address)",
    ]);
    expect(errors(parse(`${EVPN}  - { name: old, id: 2, address: 198.18.0.2, legacy: { remotes: [198.18.0.1] } }\n`))[0]).toMatch(/peers\[1\]\.legacy: vxlansetup\.sh servers make one device per remote: legacy peers cannot join an EVPN mesh/);
    expect(errors(parse(`mesh: { control: evpn, vni: 5, bgp: { asn: 65000, neighbors: [198.18.0.100], frr_pathspace: "../x" } }\n${SELF}`))[0]).toMatch(/mesh\.bgp\.frr_pathspace: may contain only letters/);
    // Still at least this server itself: an empty file never reads as "remove everything".
    expect(errors(parse('mesh:\n  control: evpn\n  vni: 5\n  bgp: { asn: 65000, neighbors: [198.18.0.100] }\n'))[0]).toMatch(/no peers defined .*list at least this server itself/);
  });

  it('warns about bgp settings under control: static', () => {
    const c = config(`mesh:\n  bgp: { asn: 65000, neighbors: [198.18.0.100] }\n${SELF}  - { name: b, id: 2, address: 198.18.0.2 }\n`);
    expect(c.warnings).toContain('mesh.bgp is used only with control: evpn; ignored with control: static');
  });
});

/** A host with the EVPN device as vxmesh makes it, and zebra's entries on it. */
function evpnHost(extra: Partial<Parameters<typeof link>[1]> = {}): ActualState {
  const a = emptyHost();
  a.links.set('vxbr0', link('vxbr0', { kind: 'bridge', alias: 'vxmesh:bridge', mtu: 1450 }));
  const fdb = parseDeviceFdb(JSON.stringify([
    { mac: '00:00:00:00:00:00', dst: '198.18.0.2', flags: ['self'], state: 'permanent' },
    { mac: '00:00:00:00:00:00', dst: '198.18.0.3', flags: ['self'], state: 'permanent' },
    { mac: '02:00:00:00:00:02', dst: '198.18.0.2', flags: ['self', 'extern_learn'], state: 'static' },
  ]));
  a.links.set('vxlan0', link('vxlan0', { kind: 'vxlan', alias: 'vxmesh:evpn', mtu: 1450, master: 'vxbr0', portLearning: false, neighSuppress: true, vxlan: { vni: 4242, remote: undefined, local: '198.18.0.1', link: 'eth0', port: 4789, learning: false, group: undefined, ttl: 0 }, ...fdb, ...extra }));
  return a;
}

const noProbe = (text: string) => text.replace('mesh:\n', 'mesh:\n  probe: { enabled: false }\n  ingress_filter: false\n');

describe('the EVPN device: vxmesh owns the device and its port flags, zebra owns the fdb', () => {
  const c = config(noProbe(EVPN));
  const desired = computeDesired(c, c.peers[0]!, 'eth0');

  it('creates one nolearning device without remote or flood list, attached with port learning off and neigh_suppress on before it comes up', () => {
    const p = phases(computePlan(desired, emptyHost()));
    expect(p.pre).toEqual([
      'link add name vxbr0 type bridge',
      'link set dev vxbr0 alias vxmesh:bridge',
      'link set dev vxbr0 mtu 1450',
      'link set dev vxbr0 up',
      'link add name vxlan0 mtu 1450 type vxlan id 4242 local 198.18.0.1 dev eth0 dstport 4789 nolearning',
      'link set dev vxlan0 alias vxmesh:evpn',
      'link set dev vxlan0 addrgenmode none',
    ]);
    expect(p.fdb).toEqual([]);
    expect(p.post).toEqual(['link set dev vxlan0 master vxbr0', 'link set dev vxlan0 type bridge_slave learning off neigh_suppress on', 'link set dev vxlan0 up']);
    expect(p.ebtables).toEqual([]);
  });

  it("leaves zebra's all-zero VTEP entries and extern_learn MACs alone: a steady EVPN host plans nothing", () => {
    const plan = computePlan(desired, evpnHost());
    expect(plan.steps).toEqual([]);
    expect(renderPlan(plan)).not.toMatch(/fdb/);
  });

  it('puts back port flags someone changed, and recreates a device that learns', () => {
    expect(phases(computePlan(desired, evpnHost({ neighSuppress: false }))).post).toEqual(['link set dev vxlan0 type bridge_slave learning off neigh_suppress on']);
    const learning = evpnHost();
    learning.links.get('vxlan0')!.vxlan!.learning = true;
    const p = computePlan(desired, learning);
    expect(p.changes[0]).toMatch(/^recreate evpn device vxlan0 \(vni 4242, remote VTEPs from BGP\): learning on$/);
  });

  it('turns a flood-list device (vxmesh entries `via eth0`, learning) into the EVPN one by recreating it, so none of its entries stays', () => {
    const a = evpnHost({ alias: 'vxmesh:flood-list', ...parseDeviceFdb(JSON.stringify([{ mac: '00:00:00:00:00:00', dst: '198.18.0.2', viaIf: 'eth0', state: 'permanent' }])) });
    a.links.get('vxlan0')!.vxlan!.learning = true;
    const p = phases(computePlan(desired, a));
    expect(p.pre.slice(0, 2)).toEqual(['link del dev vxlan0', 'link add name vxlan0 mtu 1450 type vxlan id 4242 local 198.18.0.1 dev eth0 dstport 4789 nolearning']);
    expect(p.fdb).toEqual([]);
  });

  it('stop deletes the device and the bridge, and writes no fdb line (the entries go with the device)', () => {
    const p = phases(computeTeardown(evpnHost()));
    expect(p.fdb).toEqual([]);
    expect(p.pre).toContain('link del dev vxlan0');
  });

  it('the ingress filter takes the VTEPs zebra installed, besides configured peers', () => {
    const withFilter = config(EVPN.replace('mesh:\n', 'mesh:\n  probe: { enabled: false }\n') + '  - { name: b, id: 2, address: 198.18.0.9 }\n');
    const a = evpnHost();
    expect(learnedVteps(a.links.get('vxlan0'))).toEqual(['198.18.0.2', '198.18.0.3']);
    const now = planFor({ kind: 'mesh', config: withFilter, node: 'a' }, a);
    expect(now.desired?.ingress?.peers4).toEqual(['198.18.0.2', '198.18.0.3', '198.18.0.9']);
    expect(withVteps({ port: 4789, peers4: ['198.18.0.2'], peers6: [] }, ['198.18.0.2', '2001:2::5']).peers6).toEqual(['2001:2::5']);
  });
});

const RUNNING = `Building configuration...

Current configuration:
!
frr version 8.4.4
frr defaults traditional
hostname vm
!
router bgp 65000
 bgp router-id 198.18.0.1
 neighbor 10.9.9.9 remote-as 65010
 neighbor vxmesh peer-group
 neighbor vxmesh remote-as 65000
 neighbor 198.18.0.100 peer-group vxmesh
 neighbor 198.18.0.102 peer-group vxmesh
 !
 address-family ipv4 unicast
  network 10.1.0.0/16
 exit-address-family
 !
 address-family l2vpn evpn
  neighbor vxmesh activate
  advertise-all-vni
 exit-address-family
exit
!
end
`;

const WANT: FrrDesired = { asn: 65000, routerId: '198.18.0.1', routerIdExplicit: false, neighbors: ['198.18.0.100', '198.18.0.101'], pathspace: undefined };

describe("vxmesh's lines in FRR", () => {
  it('renders only the non-default lines it needs', () => {
    expect(renderFrrFragment(WANT)).toBe(`router bgp 65000
 bgp router-id 198.18.0.1
 neighbor vxmesh peer-group
 neighbor vxmesh remote-as 65000
 neighbor 198.18.0.100 peer-group vxmesh
 neighbor 198.18.0.101 peer-group vxmesh
 address-family l2vpn evpn
  neighbor vxmesh activate
  advertise-all-vni
 exit-address-family
exit
`);
  });

  it('reads the running config with its contexts, and tells its own lines from the admin\'s', () => {
    const r = parseRunningConfig(RUNNING);
    expect(r.asn).toBe(65000);
    expect(r.lines).toContainEqual({ context: ['router bgp 65000', 'address-family ipv4 unicast'], line: 'network 10.1.0.0/16' });
    expect(r.lines.filter(isOwnedFrrLine).map((l) => l.line)).toEqual(['neighbor vxmesh peer-group', 'neighbor vxmesh remote-as 65000', 'neighbor 198.18.0.100 peer-group vxmesh', 'neighbor 198.18.0.102 peer-group vxmesh', 'neighbor vxmesh activate']);
  });

  it('applies only the difference: a removed neighbor of its own, a new one; the admin\'s neighbor and networks stay', () => {
    const p = planFrr(WANT, parseRunningConfig(RUNNING));
    expect(p.input).toBe(' no neighbor 198.18.0.102\n neighbor 198.18.0.101 peer-group vxmesh\n'.replace(/^/, 'router bgp 65000\n') + 'exit\n');
    expect(p.input).not.toMatch(/10\.9\.9\.9|network/);
    expect(p.changes).toEqual(['FRR: no neighbor 198.18.0.102', 'FRR: add neighbor 198.18.0.101 peer-group vxmesh']);
    // Once applied, nothing more.
    const after = RUNNING.replace(' neighbor 198.18.0.102 peer-group vxmesh\n', ' neighbor 198.18.0.101 peer-group vxmesh\n');
    expect(planFrr(WANT, parseRunningConfig(after))).toEqual({ input: undefined, changes: [], blocked: [] });
  });

  it("keeps a router id the admin set unless the config names one (a new id resets every session)", () => {
    const admin = parseRunningConfig(RUNNING.replace('bgp router-id 198.18.0.1', 'bgp router-id 10.0.0.7'));
    expect(planFrr(WANT, admin).input).not.toMatch(/router-id/);
    expect(planFrr({ ...WANT, routerId: '10.0.0.9', routerIdExplicit: true }, admin).input).toMatch(/^ bgp router-id 10\.0\.0\.9$/m);
  });

  it('writes everything into an empty FRR, and never replaces a BGP instance of another AS', () => {
    expect(planFrr(WANT, parseRunningConfig('')).input).toBe(renderFrrFragment(WANT));
    const other = planFrr({ ...WANT, asn: 65001 }, parseRunningConfig(RUNNING));
    expect(other.input).toBeUndefined();
    expect(other.blocked[0]).toMatch(/FRR runs router bgp 65000, but mesh\.bgp\.asn is 65001/);
  });

  it('as a plan step: one vtysh run with the lines as one -c (it stops at the first refused line); blocked while bgpd or FRR is missing', () => {
    const up: FrrState = parseFrrRead(` zebra bgpd\n${RUNNING}`);
    expect(up.daemons).toEqual(['zebra', 'bgpd']);
    const step = planFrrStep({ ...WANT, pathspace: 'srv1' }, up);
    expect(step.command?.args).toEqual(['-N', 'srv1', '-c', 'configure terminal\nrouter bgp 65000\n no neighbor 198.18.0.102\n neighbor 198.18.0.101 peer-group vxmesh\nexit']);
    expect(planFrrStep(WANT, parseFrrRead(` zebra\n${RUNNING}`)).blocked[0]).toMatch(/bgpd is not running: the EVPN config cannot be applied/);
    expect(planFrrStep(WANT, parseFrrRead(` zebra\n${RUNNING}`)).command).toBeUndefined();
    expect(planFrrStep(WANT, { reachable: false, error: 'vtysh: command not found', daemons: [], running: undefined }).blocked[0]).toMatch(/not reachable with vtysh: vtysh: command not found/);
  });

  it('vxmesh plan prints the vtysh step so that sh runs it as apply does', () => {
    const c = config(noProbe(EVPN));
    const a = evpnHost();
    a.frr = parseFrrRead(' zebra bgpd\n');
    const plan = computePlan(computeDesired(c, c.peers[0]!, 'eth0'), a);
    expect(isEmptyPlan(plan)).toBe(false);
    expect(renderPlan(plan)).toBe(`vtysh -c 'configure terminal\n${renderFrrFragment(WANT).trimEnd()}'`);
  });
});

describe('the control plane in status', () => {
  const fixture = (name: string) => readFileSync(`test/fixtures/frr/${name}`, 'utf8');
  const read: EvpnRead = { summary: fixture('bgp-l2vpn-evpn-summary.json'), vni: fixture('evpn-vni.json'), macs: fixture('evpn-mac-vni-all.json'), error: undefined };
  const peers = config(`${EVPN}  - { name: b, id: 2, address: 198.18.0.2 }\n  - { name: z, id: 9, address: 198.18.0.9 }\n`).peers.slice(1);

  it('reads sessions, the VNI, remote VTEPs with their MACs from FRR 8.4 output, and names configured peers BGP has not heard from', () => {
    expect(evpnStatus(read, 4242, 'srv1', peers)).toEqual({
      pathspace: 'srv1',
      problem: null,
      sessions: [{ neighbor: '198.18.0.100', state: 'Established', uptimeMs: 3000, prefixesReceived: 4, established: 1 }],
      vni: { vni: 4242, device: 'vxlan0', localMacs: 1, remoteVteps: 2 },
      vteps: [
        { address: '198.18.0.2', source: 'bgp', macs: 1, peer: 'b' },
        { address: '198.18.0.3', source: 'bgp', macs: 1, peer: null },
      ],
      silentPeers: ['z'],
    });
  });

  it('says when zebra does not know the VNI or FRR cannot be read', () => {
    expect(evpnStatus({ ...read, vni: '{}' }, 4242, undefined, []).problem).toMatch(/zebra does not know VNI 4242/);
    expect(evpnStatus({ summary: undefined, vni: undefined, macs: undefined, error: 'vtysh failed (exit 1): Exiting: failed to connect to any daemons.' }, 4242, undefined, []).problem).toMatch(/failed to connect to any daemons/);
  });
});

describe('doctor for control: evpn', () => {
  const up = parseFrrRead(' zebra bgpd\nBuilding configuration...\n');
  const daemons = 'bgpd=yes\nospfd=no\nvtysh_enable=yes\n';
  it('names FRR and its version, bgpd enabled, and both daemons answering', () => {
    expect(frrVerdicts({ version: 'zebra version 8.4.4\nCopyright', daemonsFile: daemons, daemonsPath: '/etc/frr/daemons', state: up }).map((c) => `${c.severity} ${c.name}: ${c.message}`)).toEqual([
      'ok frr: FRR 8.4.4: one VXLAN device per VNI (the single vnifilter device would need FRR >= 9.0; vxmesh does not use it)',
      'ok frr daemons: bgpd enabled in /etc/frr/daemons (zebra always runs)',
      'ok frr running: zebra and bgpd answer vtysh',
    ]);
  });
  it('says what to do when FRR is missing, too old, bgpd is off or not running', () => {
    const down: FrrState = { reachable: false, error: 'vtysh: command not found', daemons: [], running: undefined };
    const v = frrVerdicts({ version: undefined, daemonsFile: 'bgpd=no\n', daemonsPath: '/etc/frr/daemons', state: down });
    expect(v.map((c) => c.severity)).toEqual(['problem', 'problem', 'problem']);
    expect(v[0]!.fix).toBe('apt-get install frr');
    expect(v[1]!.fix).toMatch(/set bgpd=yes there and run `systemctl restart frr` once/);
    expect(frrVerdicts({ version: 'zebra version 7.5.1', daemonsFile: daemons, daemonsPath: 'd', state: parseFrrRead(' zebra\n') }).map((c) => c.message)).toEqual([
      "FRR 7.5 is older than 8.0: vxmesh's EVPN layout is tested with 8.4",
      'bgpd enabled in d (zebra always runs)',
      'bgpd not running (vtysh sees zebra)',
    ]);
  });
});
