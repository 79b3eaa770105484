import { formatIssue, type ConfigIssue } from '../config/load.js';
import { BRIDGE_ALIAS, DEFAULT_BRIDGE, GATE_RULE } from '../model/names.js';
import type { ActualState } from '../model/state.js';
import { VXLAN_OVERHEAD, type Config, type Peer } from '../model/types.js';
import type { DesiredLink, DesiredState } from '../plan/desired.js';
import { computePlan, expectedChain, isEmptyPlan } from '../plan/plan.js';
import { ingressMatches } from '../plan/ingress.js';
import type { ReconcileOutcome } from './reconcile.js';
import type { Counters, LinkStatus, ReconcileReport, StatusReport } from './status.js';

export interface StatusInput {
  configDir: string;
  config: Config | undefined;
  configIssues: ConfigIssue[] | null;
  configLoadedAt: Date | undefined;
  stopped: boolean;
  self: Peer | undefined;
  selfProblem: string | undefined;
  underlay: string | undefined;
  movedFrom: string | undefined;
  desired: DesiredState | undefined;
  actual: ActualState;
  macs: Map<string, number>;
  last: { report: ReconcileReport; outcome: ReconcileOutcome } | undefined;
  counters: Counters;
}

/** Pure: the status report from what the daemon knows and a fresh read of the kernel. */
export function buildStatus(s: StatusInput): StatusReport {
  const reasons: string[] = [];
  const bridgeName = s.config?.mesh.bridge ?? DEFAULT_BRIDGE;
  const br = s.actual.links.get(bridgeName);
  const links = (s.desired?.links ?? []).map((d) => linkStatus(d, s, bridgeName));

  const under = s.underlay ? s.actual.links.get(s.underlay) : undefined;
  let underlayProblem: string | null = s.selfProblem ?? null;
  const local = s.desired?.links[0]?.local ?? s.self?.address;
  if (s.underlay && !under) underlayProblem = `underlay device ${s.underlay} is missing`;
  else if (s.movedFrom && s.config && s.self) {
    const stale = s.config.peers.filter((p) => p !== s.self).map((p) => p.name);
    underlayProblem = `local address changed: the config gives ${s.self.name} ${s.movedFrom} but ${s.underlay} now has ${local}; links use ${local}, and peers still point at ${s.movedFrom}: ${stale.join(', ')} (update peers.yaml)`;
  }
  else if (under && s.config && s.self) {
    const need = s.config.mesh.mtu + VXLAN_OVERHEAD[s.self.family];
    if (under.mtu < need) underlayProblem = `underlay ${under.name} MTU ${under.mtu} is below mesh MTU ${s.config.mesh.mtu} + ${VXLAN_OVERHEAD[s.self.family]} = ${need}: large frames will be dropped`;
  }

  const mode = s.config?.mesh.loopPrevention ?? 'ebtables';
  const devices = [...new Set(links.filter((l) => l.present).map((l) => l.device))];
  let expected = 0;
  let present = 0;
  let loopProblem: string | null = null;
  if (mode === 'ebtables') {
    const want = new Set(expectedChain(devices));
    expected = want.size - 1;
    present = s.actual.ebtables.chain.filter((r) => r !== GATE_RULE && want.has(r)).length;
    if (!s.actual.ebtables.available) loopProblem = `ebtables unavailable: ${s.actual.ebtables.error ?? 'unknown error'}`;
    else if (present < expected || s.actual.ebtables.jumps === 0 || s.actual.ebtables.chain[0] !== GATE_RULE) loopProblem = `rules missing: ${present} of ${expected} pairwise rules${s.actual.ebtables.jumps === 0 ? ', no FORWARD jump' : ''}`;
  } else {
    expected = links.length;
    present = links.filter((l) => l.present && s.actual.links.get(l.device)?.isolated === true).length;
    if (present < expected) loopProblem = `${expected - present} of ${expected} ports not isolated`;
  }

  const ing = s.desired?.ingress;
  const ingressOk = ing ? ingressMatches(ing, s.actual.ingress) : !s.actual.ingress.present;
  const ingressProblem = !s.desired || ingressOk ? null : !s.actual.ingress.available ? `nft unavailable: ${s.actual.ingress.error ?? 'unknown error'}` : ing ? 'table missing or different from the config (repair pending)' : 'table present though ingress_filter is off';

  if (s.stopped) reasons.push('stopped with `vxmesh stop`');
  else {
    if (!s.config) reasons.push('no valid config has been loaded');
    if (s.configIssues) reasons.push(`config invalid (last good config still applied): ${s.configIssues.map(formatIssue).join('; ')}`);
    if (underlayProblem) reasons.push(underlayProblem);
    if (s.desired && !br) reasons.push(`bridge ${bridgeName} is missing`);
    for (const l of links) if (l.problem) reasons.push(`${l.device} (${l.peer}): ${l.problem}`);
    if (s.desired && loopProblem) reasons.push(`loop prevention: ${loopProblem}`);
    if (ingressProblem) reasons.push(`ingress filter: ${ingressProblem}`);
    if (s.desired && !isEmptyPlan(computePlan(s.desired, s.actual))) reasons.push('kernel differs from the config (repair pending)');
    for (const b of s.last?.outcome.blocked ?? []) reasons.push(b);
    for (const e of s.last?.report.errors ?? []) reasons.push(`last reconcile: ${e}`);
  }
  const state = s.stopped ? 'stopped' : reasons.length ? 'degraded' : 'running';

  return {
    node: s.self?.name ?? s.config?.node ?? null,
    state,
    reasons: [...new Set(reasons)],
    config: {
      dir: s.configDir,
      files: s.config?.files ?? [],
      loadedAt: s.configLoadedAt?.toISOString() ?? null,
      lastError: s.configIssues ? s.configIssues.map(formatIssue) : null,
      warnings: s.config?.warnings ?? [],
    },
    underlay: { device: s.underlay ?? null, address: local ?? null, mtu: under?.mtu ?? null, problem: underlayProblem },
    bridge: { name: bridgeName, present: Boolean(br), up: br?.up ?? false, mtu: br?.mtu ?? null, ownedByVxmesh: br?.alias === BRIDGE_ALIAS },
    links,
    loopPrevention: { mode, expected, present, problem: loopProblem },
    ingressFilter: {
      enabled: s.config?.mesh.ingressFilter ?? true,
      present: s.actual.ingress.present,
      peers: s.actual.ingress.peers4.length + s.actual.ingress.peers6.length,
      droppedPackets: s.actual.ingress.dropped,
      problem: ingressProblem,
    },
    lastReconcile: s.last?.report ?? null,
    counters: { ...s.counters },
  };
}

function linkStatus(d: DesiredLink, s: StatusInput, bridge: string): LinkStatus {
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
    present: Boolean(a),
    up: a?.up ?? false,
    attached: a?.master === bridge,
    mtu: a?.mtu ?? null,
    rxBytes: a?.stats.rxBytes ?? 0,
    txBytes: a?.stats.txBytes ?? 0,
    rxPackets: a?.stats.rxPackets ?? 0,
    txPackets: a?.stats.txPackets ?? 0,
    learnedMacs: s.macs.get(d.device) ?? 0,
    problem,
  };
}
