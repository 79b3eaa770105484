import { formatIssue, type ConfigIssue } from '../config/load.js';
import { CHAIN, DEFAULT_BRIDGE, GATE_RULE } from '../model/names.js';
import { isOwnedBridge, isOwnedDevice, type ActualState } from '../model/state.js';
import { VXLAN_OVERHEAD, type Config, type Peer } from '../model/types.js';
import type { DesiredLink, DesiredState } from '../plan/desired.js';
import { chainCoverage, foreignBridgeMtu } from '../plan/plan.js';
import { ingressMatches } from '../plan/ingress.js';
import type { EbtablesChoice } from '../model/ebtables.js';
import { VERSION } from '../version.js';
import type { LinkHealth } from '../health/link-health.js';
import type { ProbeReport } from '../health/service.js';
import type { ReconcileOutcome } from './reconcile.js';
import { portState } from './port-state.js';
import { singleDeviceStatus, singleLinkStatus } from './single-device-status.js';
import { encryptionStatus, wgLinkStatus } from './encryption-status.js';
import { computeMtuChain } from '../model/wireguard.js';
import { evpnStatus, type EvpnRead } from '../evpn/status.js';
import type { Counters, LinkStatus, ReconcileReport, StatusReport } from './status.js';

export interface StatusInput {
  configDir: string;
  config: Config | undefined;
  configIssues: ConfigIssue[] | null;
  configLoadedAt: Date | undefined;
  /** When the config in force came from the state directory: when it was saved there. */
  configFromState?: string | undefined;
  /** Peers a newer read of the files removes, held until the files are stable. */
  pendingRemoval?: string[] | undefined;
  stopped: boolean;
  /** Owned ports still attached after `stop` (a teardown step failed; it is retried). */
  leftAfterStop?: string[];
  self: Peer | undefined;
  selfProblem: string | undefined;
  underlay: string | undefined;
  movedFrom: string | undefined;
  desired: DesiredState | undefined;
  /** The plan against `actual` is not empty: the kernel differs from the config. */
  repairPending: boolean;
  actual: ActualState;
  macs: Map<string, number>;
  /** multicast mode: the groups joined on the underlay (`ip maddr`), undefined when not read. */
  joinedGroups?: string[] | undefined;
  last: { report: ReconcileReport; outcome: ReconcileOutcome } | undefined;
  counters: Counters;
  /** The ebtables backend probed at start (or why none works). */
  ebtables: EbtablesChoice;
  /** Per peer name, from the prober; absent or empty when probing is off. */
  health?: Map<string, LinkHealth>;
  probe?: ProbeReport;
  /** Unix seconds now (WireGuard handshake ages); the system clock when absent. */
  nowS?: number;
  /** control: evpn: the last control-plane read (vtysh JSON). */
  evpn?: EvpnRead | undefined;
}

const PROBE_OFF: ProbeReport = { enabled: false, family: null, address: null, port: null, intervalSeconds: null, keyed: false, authenticated: false, problem: null, sent: 0, answered: 0, ignored: { malformed: 0, bad_key: 0, not_a_peer: 0, unexpected: 0, rate_limited: 0 } };

/** What is wrong with the underlay: missing, moved to another address, or too small an MTU. */
function underlayProblem(s: StatusInput, local: string | undefined): string | null {
  const under = s.underlay ? s.actual.links.get(s.underlay) : undefined;
  if (s.underlay && !under) return `underlay device ${s.underlay} is missing`;
  if (s.movedFrom && s.config && s.self) {
    const stale = s.config.peers.filter((p) => p !== s.self).map((p) => p.name);
    return `local address changed: the config gives ${s.self.name} ${s.movedFrom} but ${s.underlay} now has ${local}; links use ${local}, and peers still point at ${s.movedFrom}: ${stale.join(', ')} (update peers.yaml)`;
  }
  if (under && s.config && s.self && s.config.mesh.encryption === 'wireguard') {
    const chain = computeMtuChain(under.mtu, s.self.family, s.config.mesh.mtu);
    if (!chain.ok) return `underlay ${under.name}: ${chain.problem}`;
  } else if (under && s.config && s.self) {
    const need = s.config.mesh.mtu + VXLAN_OVERHEAD[s.self.family];
    if (under.mtu < need) return `underlay ${under.name} MTU ${under.mtu} is below mesh MTU ${s.config.mesh.mtu} + ${VXLAN_OVERHEAD[s.self.family]} = ${need}: large frames will be dropped`;
  }
  return s.selfProblem ?? null;
}

/**
 * Loop prevention as found: port rules (or isolated ports) expected and present. Every
 * per-peer port is isolated in both modes; in `ebtables` mode isolation is the second layer,
 * and the problem says whether it still holds while the rules are missing.
 */
function loopPrevention(s: StatusInput, links: LinkStatus[]): StatusReport['loopPrevention'] {
  const mode = s.config?.mesh.loopPrevention ?? 'ebtables';
  const eb = s.actual.ebtables;
  const backend = s.ebtables.backend ?? null;
  if (s.desired && s.desired.mode !== 'per-peer') {
    // One device: nothing to prevent. The per-peer chain goes once no per-peer port is left.
    return { mode: 'none', backend, expected: 0, present: 0, isolatedPorts: 0, problem: eb.chainExists ? 'the per-peer VXMESH chain is still there (it goes once no per-peer port is left)' : null };
  }
  const ports = [...new Set(links.filter((l) => l.attached).map((l) => l.device))];
  const isolated = ports.filter((d) => s.actual.links.get(d)?.isolated === true).length;
  // When something is wrong, whether isolation still holds answers "can it loop now?".
  const isolation = `${isolated} of ${ports.length} attached ports isolated${isolated < ports.length ? ': VXLAN ports can forward to each other' : ''}`;
  if (mode === 'ebtables') {
    const devices = [...new Set(links.filter((l) => l.present).map((l) => l.device))];
    const { expected, present } = chainCoverage(eb.chainExists ? eb.chain : [GATE_RULE], devices);
    const faults: string[] = [];
    if (!s.ebtables.backend) faults.push(s.ebtables.problem ?? 'no working ebtables');
    else if (!eb.available) faults.push(`ebtables unavailable: ${eb.error ?? 'unknown error'}`);
    else {
      if (present < expected || eb.chain[0] !== GATE_RULE) faults.push(`rules missing: ${present} of ${expected} port rules`);
      if (eb.jumps === 0) faults.push('no FORWARD jump');
      else if (eb.jumpShadowedBy !== undefined) faults.push(`FORWARD rule "${eb.jumpShadowedBy.slice(0, 80)}" stands before the jump to ${CHAIN}`);
    }
    if (faults.length === 0 && isolated === ports.length) return { mode, backend, expected, present, isolatedPorts: isolated, problem: null };
    return { mode, backend, expected, present, isolatedPorts: isolated, problem: [...faults, ...(ports.length > 0 ? [isolation] : [])].join('; ') };
  }
  const expected = links.length;
  const present = links.filter((l) => l.present && s.actual.links.get(l.device)?.isolated === true).length;
  return { mode, backend, expected, present, isolatedPorts: isolated, problem: present < expected ? `${expected - present} of ${expected} ports not isolated` : null };
}

function ingressProblem(s: StatusInput): string | null {
  const ing = s.desired?.ingress;
  const ok = ing ? ingressMatches(ing, s.actual.ingress) : !s.actual.ingress.present;
  if (!s.desired || ok) return null;
  if (!s.actual.ingress.available) return `nft unavailable: ${s.actual.ingress.error ?? 'unknown error'}`;
  return ing ? 'table missing or different from the config (repair pending)' : 'table present though ingress_filter is off';
}

/** Pure: the status report from what the daemon knows and its last read of the kernel. */
export function buildStatus(s: StatusInput): StatusReport {
  const reasons: string[] = [];
  const warnings: string[] = [];
  const bridgeName = s.desired?.bridge.name ?? s.config?.mesh.bridge ?? DEFAULT_BRIDGE;
  const br = s.actual.links.get(bridgeName);
  const segs = s.desired?.segments ?? [];
  const byDevice = new Map(segs.map((g) => [g.single.device, { g, floodDsts: new Set(s.actual.links.get(g.single.device)?.defaultDsts ?? []) }]));
  const nowS = s.nowS ?? Math.floor(Date.now() / 1000);
  const wg = s.desired?.wireguard;
  const links = (s.desired?.links ?? []).map((d) => {
    const seg = byDevice.get(d.device);
    return {
      ...(seg ? { ...singleLinkStatus(d, seg.g.single, s.actual, seg.g.bridge.name, seg.floodDsts), health: s.health?.get(d.peer) ?? null } : linkStatus(d, s, bridgeName)),
      wireguard: wgLinkStatus(d, wg, s.actual, nowS, s.health?.get(d.peer)?.state === 'failure'),
      ...(d.segment ? { segment: d.segment } : {}),
    };
  });
  const encryption = encryptionStatus(wg, s.actual, Math.max(s.config?.mesh.mtu ?? 1450, ...segs.map((g) => g.bridge.mtu)));
  const segments = segs.map((g) => {
    const b = s.actual.links.get(g.bridge.name);
    const one = singleDeviceStatus(g.single, s.actual, g.bridge.name, s.joinedGroups);
    return { name: g.name, vni: g.single.vni, mtu: g.bridge.mtu, bridge: { name: g.bridge.name, present: Boolean(b), up: b?.up ?? false, mtu: b?.mtu ?? null }, members: g.single.peers.map((p) => p.name), ...one };
  });
  const one = segments[0];
  const under = s.underlay ? s.actual.links.get(s.underlay) : undefined;
  const local = s.desired?.links[0]?.local ?? s.self?.address;
  const underlay = underlayProblem(s, local);
  const loop = loopPrevention(s, links);
  const ingress = ingressProblem(s);
  const mesh = s.config?.mesh;
  const evpn = mesh?.control === 'evpn' && mesh.vni !== undefined && s.evpn ? evpnStatus(s.evpn, mesh.vni, mesh.bgp?.frrPathspace, (s.config?.peers ?? []).filter((p) => p !== s.self)) : null;

  if (s.stopped) {
    reasons.push('stopped with `vxmesh stop`');
    const left = s.leftAfterStop ?? [];
    if (left.length) reasons.push(`teardown incomplete: ${left.join(', ')} still attached; loop prevention stays until they are gone (retrying)`);
  } else {
    if (!s.config) reasons.push('no valid config has been loaded');
    if (s.configIssues) {
      const applied = !s.config ? 'nothing applied: no last good config' : s.configFromState ? `using the last good config saved in the state directory at ${s.configFromState}` : 'last good config still applied';
      reasons.push(`config invalid (${applied}): ${s.configIssues.map(formatIssue).join('; ')}`);
    }
    if (s.pendingRemoval?.length) reasons.push(`config change removing ${s.pendingRemoval.join(', ')} waits until the files read the same again`);
    if (underlay) reasons.push(underlay);
    if (s.desired) {
      // An owned device the config no longer wants is work left, never a converged mesh.
      const wanted = new Set(s.desired.mode !== 'per-peer' ? segs.map((g) => g.single.device) : s.desired.devices.map((d) => d.device));
      for (const l of s.actual.links.values()) if (isOwnedDevice(l) && !wanted.has(l.name)) reasons.push(`${l.name} is vxmesh's and no longer wanted: waiting to remove it`);
    }
    const bridges = s.desired ? (segs.length ? segs.map((g) => g.bridge) : s.desired.mode === 'per-peer' ? [s.desired.bridge] : []) : [];
    for (const b of bridges) {
      const have = s.actual.links.get(b.name);
      if (!have) reasons.push(`bridge ${b.name} is missing`);
      const brMtu = foreignBridgeMtu(have, b.mtu);
      if (brMtu) reasons.push(brMtu);
    }
    for (const g of segments) if (g.device.problem) reasons.push(`${g.device.name}${s.config?.segments ? ` (segment ${g.name})` : ''}: ${g.device.problem}`);
    for (const l of links) if (l.problem) reasons.push(`${l.device} (${l.peer}): ${l.problem}`);
    for (const l of links) if (l.wireguard?.problem) reasons.push(`${l.peer} over WireGuard: ${l.wireguard.problem}`);
    if (encryption.problem) reasons.push(`encryption: ${encryption.problem}`);
    if (s.desired && loop.problem) reasons.push(`loop prevention: ${loop.problem}`);
    if (ingress) reasons.push(`ingress filter: ${ingress}`);
    if (evpn?.problem) reasons.push(`EVPN control plane: ${evpn.problem}`);
    else if (evpn && !evpn.sessions.some((x) => x.state === 'Established')) reasons.push(`EVPN control plane: no BGP session established (${evpn.sessions.map((x) => `${x.neighbor} ${x.state}`).join(', ')})`);
    for (const x of evpn?.sessions ?? []) if (x.state !== 'Established' && evpn?.sessions.some((y) => y.state === 'Established')) warnings.push(`BGP session to ${x.neighbor} is ${x.state}`);
    if (evpn?.silentPeers.length) warnings.push(`configured peers BGP has not heard from: ${evpn.silentPeers.join(', ')}`);
    if (s.desired && s.repairPending) reasons.push('kernel differs from the config (repair pending)');
    for (const b of s.last?.outcome.blocked ?? []) reasons.push(b);
    for (const e of s.last?.report.errors ?? []) reasons.push(`last reconcile: ${e}`);
    // End to end: a link that disagrees, loses full-size frames or is unreachable through the
    // tunnel degrades the server; a peer whose daemon is down while its data plane works does not.
    for (const l of links) if (l.health?.state === 'failure') reasons.push(`${l.peer} through the tunnel: ${l.health.problem}`);
    for (const l of links) if (l.health?.state === 'warning') warnings.push(`${l.peer} through the tunnel: ${l.health.problem}`);
    if (s.probe?.problem) warnings.push(`link-health probe: ${s.probe.problem}`);
  }
  const state = s.stopped ? 'stopped' : reasons.length ? 'degraded' : 'running';

  return {
    version: VERSION,
    node: s.self?.name ?? s.config?.node ?? null,
    state,
    reasons: [...new Set(reasons)],
    warnings,
    config: {
      dir: s.configDir,
      files: s.config?.files ?? [],
      loadedAt: s.configLoadedAt?.toISOString() ?? null,
      lastError: s.configIssues ? s.configIssues.map(formatIssue) : null,
      fromStateDir: s.configFromState ?? null,
      warnings: s.config?.warnings ?? [],
    },
    underlay: { device: s.underlay ?? null, address: local ?? null, mtu: under?.mtu ?? null, problem: underlay },
    bridge: { name: bridgeName, present: Boolean(br), up: br?.up ?? false, mtu: br?.mtu ?? null, ownedByVxmesh: br ? isOwnedBridge(br) : false },
    mode: s.config?.mesh.mode ?? 'per-peer',
    device: one?.device ?? null,
    segments: s.config?.segments ? segments : [],
    multicast: one?.multicast ?? null,
    evpn,
    links,
    encryption,
    loopPrevention: loop,
    ingressFilter: {
      // With encryption the filter is part of failing closed: on whatever ingress_filter says.
      enabled: (s.config?.mesh.ingressFilter ?? true) || s.config?.mesh.encryption === 'wireguard',
      present: s.actual.ingress.present,
      peers: s.actual.ingress.peers4.length + s.actual.ingress.peers6.length,
      droppedPackets: s.actual.ingress.dropped,
      problem: ingress,
    },
    probe: s.probe ?? PROBE_OFF,
    lastReconcile: s.last?.report ?? null,
    counters: { ...s.counters },
  };
}

function linkStatus(d: DesiredLink, s: StatusInput, bridge: string): Omit<LinkStatus, 'wireguard'> {
  const a = s.actual.links.get(d.device);
  let problem: string | null = null;
  if (!a) problem = 'missing';
  else if (a.vxlan?.vni !== d.vni) problem = `VNI ${a.vxlan?.vni ?? 'none'}, want ${d.vni}`;
  else if (d.shared ? !(a.defaultDsts ?? []).includes(d.remote) : a.vxlan?.remote !== d.remote) problem = `remote ${d.shared ? 'missing from the shared device' : (a.vxlan?.remote ?? 'none')}, want ${d.remote}`;
  else if (a.master !== bridge) problem = `not attached to ${bridge}`;
  else if (!a.up) problem = 'down';
  return {
    peer: d.peer,
    peerId: d.peerId,
    remote: d.remote,
    local: d.local,
    vni: d.vni,
    device: d.device,
    legacy: d.legacy,
    ...portState(a, bridge),
    rxBytes: a?.stats.rxBytes ?? 0,
    txBytes: a?.stats.txBytes ?? 0,
    rxPackets: a?.stats.rxPackets ?? 0,
    txPackets: a?.stats.txPackets ?? 0,
    learnedMacs: s.macs.get(d.device) ?? 0,
    fdbEntry: null,
    problem,
    health: s.health?.get(d.peer) ?? null,
  };
}
