import { noPortAddressLines } from './port-address.js';
import { BRIDGE_ALIAS, CHAIN, GATE_RULE, JUMP_RULE, OWNER_PREFIX, ZERO_MAC, dropRule, isSafeIfname } from '../model/names.js';
import { isOwnedBridge, isOwnedDevice, isOwnedWireguard, type ActualState, type IngressDesired, type IngressState, type LinkInfo } from '../model/state.js';
import { VXLAN_OVERHEAD } from '../model/types.js';
import type { DesiredDevice, DesiredState } from './desired.js';
import { planSingleDevice, singleDeviceLeft, tunnelPortsLeft } from './single-device.js';
import { ingressMatches, renderIngress, renderIngressRemoval } from './ingress.js';
import type { EbtablesBackend } from '../model/ebtables.js';
import { planProbeAddress, planProbeAddressRemoval } from './probe-address.js';
import { planWireguard } from './wireguard.js';
import { planFrrStep } from '../evpn/frr-plan.js';

/**
 * The programs a plan runs. Each reads its input from stdin when the step has one. `ebtables`
 * and `ebtables-restore` name roles: the backend in use gives the actual commands (commandOf).
 */
export type Tool = 'nft' | 'ip' | 'bridge' | 'ebtables-restore' | 'ebtables' | 'wireguard-go' | 'wg' | 'vtysh';

/** The phases of a plan; the order they run in is PHASES. */
export type Phase = 'ingress' | 'wireguard' | 'links' | 'flood' | 'loop' | 'ports' | 'frr';

/**
 * One command of a plan, exactly as apply runs it and `vxmesh plan` prints it. Where it sits
 * and what it guards come from its row in PHASES.
 */
export interface Step {
  tool: Tool;
  args: string[];
  /** Standard input (a batch, a restore file), when the tool reads one. */
  input?: string;
  phase: Phase;
  /** Loop prevention: when this step fails, no later `needsLoopSafety` step runs. */
  guardsLoops: boolean;
  /** Attaches or brings up ports: runs only if every `guardsLoops` step before it succeeded. */
  needsLoopSafety: boolean;
  /**
   * The input holds a secret (a WireGuard key): `vxmesh plan` and the error log show that it
   * was there, never what it was. Secrets go only in the input: arguments show in `ps`.
   */
  secret?: boolean;
}

/** The difference between desired and actual: the steps to run, in order, and what they change. */
export interface Plan {
  /** Empty when the kernel already matches. */
  steps: Step[];
  /** One line per change, for the log and the reconcile report. */
  changes: string[];
  /** Desired objects that cannot be made because a foreign object is in the way. */
  blocked: string[];
}

/** The plan while it is worked out: lines per phase, made into steps once at the end. */
export interface Draft {
  nft: string | undefined;
  pre: string[];
  fdb: string[];
  /** Devices whose DROP rules the chain must hold, when the chain must be (re)written. */
  chain: string[] | undefined;
  /** Rules to append to a chain that is right but incomplete (a peer was added): far cheaper than a rewrite. */
  chainAppend: string[];
  /** ebtables argument lists run after the chain restore (jump insert/delete, chain delete). */
  ebtables: string[][];
  post: string[];
  /** Encrypted mode: the WireGuard interface (see wireguard.ts). */
  wgDel: string[];
  wgGo: string | undefined;
  wgIp: string[];
  wg: string[][];
  /** control: evpn: the `vtysh -c` step that brings FRR's BGP config to vxmesh's lines. */
  frr: Command | undefined;
  changes: string[];
  blocked: string[];
}

function newDraft(): Draft {
  return { nft: undefined, pre: [], fdb: [], chain: undefined, chainAppend: [], ebtables: [], post: [], wgDel: [], wgGo: undefined, wgIp: [], wg: [], frr: undefined, changes: [], blocked: [] };
}

/**
 * One refused line (a device the kernel will not take) must not freeze the rest of the mesh,
 * so batches run with -force; loop prevention is written whatever happened before it (rules
 * naming a device that failed are harmless).
 */
const BATCH = ['-force', '-batch', '-'];

const lines = (l: string[]) => l.join('\n') + '\n';

/** What one row of PHASES takes from the draft: the steps' arguments and inputs. */
interface Command {
  args: string[];
  input?: string;
  secret?: boolean;
}

/** A row of the phase table: the order steps run in, and what each guards or needs. */
export interface PhaseRow {
  phase: Phase;
  tool: Tool;
  /** Whether its steps guard loops; a function when it depends on the step (inserting a jump does, deleting one does not). */
  guardsLoops: boolean | ((args: string[]) => boolean);
  needsLoopSafety: boolean;
  /** The row's steps, from the draft (none when it has nothing to do). */
  take: (d: Draft) => Command[];
}

/**
 * The order a plan runs in:
 *  1. `ingress`: the nft table that guards the VXLAN port (`nft -f -`); in encrypted mode it
 *     also drops clear VXLAN towards peers on output, so it is in place before any device;
 *     then `wireguard`: the WireGuard interface (wireguard-go or `ip link add ... type
 *     wireguard`, its address and MTU, then `wg set`), before the VXLAN devices that ride it;
 *  2. `links`: bridge, device create/delete/modify (`ip -force -batch -`); new ports stay down
 *     and unattached; then `flood` (`bridge -force -batch -`): flood lists of shared devices;
 *  3. `loop`: loop prevention (the vxmesh chain replaced or appended to in one
 *     ebtables-restore, then the FORWARD jump);
 *  4. `ports` (`ip -force -batch -`): attach ports, isolate, bring up. Runs only if every
 *     loop-guarding step succeeded, so no port ever joins the bridge without loop prevention.
 */
export const PHASES: readonly PhaseRow[] = [
  { phase: 'ingress', tool: 'nft', guardsLoops: false, needsLoopSafety: false, take: (d) => (d.nft ? [{ args: ['-f', '-'], input: d.nft }] : []) },
  { phase: 'wireguard', tool: 'ip', guardsLoops: false, needsLoopSafety: false, take: (d) => (d.wgDel.length ? [{ args: BATCH, input: lines(d.wgDel) }] : []) },
  { phase: 'wireguard', tool: 'wireguard-go', guardsLoops: false, needsLoopSafety: false, take: (d) => (d.wgGo ? [{ args: [d.wgGo] }] : []) },
  { phase: 'wireguard', tool: 'ip', guardsLoops: false, needsLoopSafety: false, take: (d) => (d.wgIp.length ? [{ args: BATCH, input: lines(d.wgIp) }] : []) },
  { phase: 'wireguard', tool: 'wg', guardsLoops: false, needsLoopSafety: false, take: (d) => d.wg.map((args) => ({ args })) },
  { phase: 'links', tool: 'ip', guardsLoops: false, needsLoopSafety: false, take: (d) => (d.pre.length ? [{ args: BATCH, input: lines(d.pre) }] : []) },
  { phase: 'flood', tool: 'bridge', guardsLoops: false, needsLoopSafety: false, take: (d) => (d.fdb.length ? [{ args: BATCH, input: lines(d.fdb) }] : []) },
  { phase: 'loop', tool: 'ebtables-restore', guardsLoops: true, needsLoopSafety: false, take: (d) => (d.chain ? [{ args: ['--noflush'], input: renderChainRestore(d.chain) }] : []) },
  { phase: 'loop', tool: 'ebtables-restore', guardsLoops: true, needsLoopSafety: false, take: (d) => (d.chainAppend.length ? [{ args: ['--noflush'], input: renderChainAppend(d.chainAppend) }] : []) },
  // Removing a jump or the chain guards nothing; inserting the jump does.
  { phase: 'loop', tool: 'ebtables', guardsLoops: (args) => args.includes('-I'), needsLoopSafety: false, take: (d) => d.ebtables.map((args) => ({ args })) },
  { phase: 'ports', tool: 'ip', guardsLoops: false, needsLoopSafety: true, take: (d) => (d.post.length ? [{ args: BATCH, input: lines(d.post) }] : []) },
  // Last: zebra takes up the VNI once the device is on the bridge and up.
  { phase: 'frr', tool: 'vtysh', guardsLoops: false, needsLoopSafety: false, take: (d) => (d.frr ? [d.frr] : []) },
];

function finish(d: Draft): Plan {
  const steps: Step[] = [];
  for (const row of PHASES) {
    for (const c of row.take(d)) {
      const guardsLoops = typeof row.guardsLoops === 'function' ? row.guardsLoops(c.args) : row.guardsLoops;
      steps.push({ tool: row.tool, args: c.args, ...(c.input === undefined ? {} : { input: c.input }), phase: row.phase, guardsLoops, needsLoopSafety: row.needsLoopSafety, ...(c.secret ? { secret: true } : {}) });
    }
  }
  return { steps, changes: d.changes, blocked: d.blocked };
}

export function isEmptyPlan(p: Plan): boolean {
  return p.steps.length === 0;
}

export { isOwnedDevice };

/**
 * The MTU a device can have: the mesh MTU, or less when the underlay cannot carry it (the
 * kernel clamps a new device and refuses to raise one above underlay MTU - 50/70; asking
 * again on every reconcile would only fail). Status reports the shortfall.
 */
function deviceMtu(d: DesiredDevice, actual: ActualState, lower?: { device: string; mtu: number }): number {
  const underMtu = lower?.device === d.underlay ? lower.mtu : actual.links.get(d.underlay)?.mtu;
  if (underMtu === undefined) return d.mtu;
  return Math.min(d.mtu, underMtu - VXLAN_OVERHEAD[d.local.includes(':') ? 6 : 4]);
}

function createDeviceLines(plan: Draft, d: DesiredDevice, mtu: number, actual: ActualState): void {
  const target = d.shared ? `local ${d.local} dev ${d.underlay} dstport ${d.port} learning` : `remote ${d.remotes[0]} local ${d.local} dev ${d.underlay} dstport ${d.port} nolearning`;
  plan.pre.push(`link add name ${d.device} mtu ${mtu} type vxlan id ${d.vni} ${target}`, `link set dev ${d.device} alias ${d.alias}`, ...noPortAddressLines(d.device, actual));
  if (d.shared) for (const r of d.remotes) plan.fdb.push(`fdb append ${ZERO_MAC} dev ${d.device} dst ${r}`);
}

function describeDevice(d: DesiredDevice): string {
  return `${d.device} to ${d.peers.join(', ')} (${d.remotes.join(', ')}, vni ${d.vni}${d.shared ? ', shared by script servers' : ''})`;
}

/** Why an existing device cannot be changed in place into the desired one (the kernel refuses VNI, port and underlay changes). */
function recreateReason(a: LinkInfo, d: DesiredDevice): string | undefined {
  const v = a.vxlan;
  if (!v) return 'not a vxlan device';
  if (d.shared !== (v.remote === undefined)) return d.shared ? 'becomes shared' : 'no longer shared';
  if (v.vni !== d.vni) return `vni ${v.vni} -> ${d.vni}`;
  if (v.port !== d.port) return `port ${v.port} -> ${d.port}`;
  if (v.link !== d.underlay) return `underlay ${v.link ?? 'none'} -> ${d.underlay}`;
  if (v.local !== undefined && v.local.includes(':') !== d.local.includes(':')) return 'address family changed';
  return undefined;
}

export function computePlan(desired: DesiredState, actual: ActualState): Plan {
  const plan = newDraft();
  const oneDevice = desired.mode !== 'per-peer';

  // Encrypted mode: the WireGuard interface first. When it cannot be made, no VXLAN device is
  // (an unencrypted one would send clear VXLAN towards the peers): fail closed.
  const wg = desired.wireguard ? planWireguard(plan, desired.wireguard, actual) : undefined;
  const sealed = wg === 'blocked';
  const lower = desired.wireguard && typeof wg === 'number' ? { device: desired.wireguard.device, mtu: wg } : undefined;
  const devices = sealed ? [] : desired.devices;
  // The owned WireGuard interface when it is not wanted (encryption off, or renamed): it goes
  // after the VXLAN devices riding it have been made again on the underlay.
  for (const a of actual.links.values()) {
    if (isOwnedWireguard(a) && a.name !== desired.wireguard?.device) {
      plan.post.push(`link del dev ${a.name}`);
      plan.changes.push(`delete WireGuard interface ${a.name}`);
    }
  }

  // Owned devices no longer wanted go first: they may hold a VNI a new link needs.
  const wanted = new Set(sealed ? [] : oneDevice ? desired.segments.map((g) => g.single.device) : desired.links.map((l) => l.device));
  for (const a of actual.links.values()) {
    if (isOwnedDevice(a) && !wanted.has(a.name)) {
      plan.pre.push(`link del dev ${a.name}`);
      plan.changes.push(`delete ${a.name} (${a.alias!.slice(OWNER_PREFIX.length)} is no longer a peer)`);
    }
  }

  // The bridges: per-peer mode's one, or one per segment in the one-device modes.
  const bridges = oneDevice ? desired.segments.map((g) => g.bridge) : [{ ...desired.bridge, alias: BRIDGE_ALIAS }];
  const usable = new Set(bridges.filter((b) => planBridge(plan, b, actual)).map((b) => b.name));

  // Without a working ebtables no per-peer port may join the bridge: its loop prevention cannot be made.
  const br = desired.bridge;
  if (!oneDevice && desired.loopPrevention === 'ebtables' && !actual.ebtables.available && usable.delete(br.name)) {
    plan.blocked.push(`no port joins ${br.name}: loop prevention cannot be put in place without a working ebtables`);
  }

  if (oneDevice) {
    // Loop prevention goes only once no per-peer port is left (a mode switch takes two passes).
    const left = tunnelPortsLeft(actual);
    for (const g of sealed ? [] : desired.segments) planSingleDevice(plan, g.single, actual, usable.has(g.bridge.name) ? g.bridge.name : undefined, left, lower);
    if (!left) planChainRemoval(plan, actual.ebtables);
  }
  const replaced = oneDevice || sealed ? new Set<string>() : replaceScriptDevices(plan, desired, actual);
  // Back from a one-device mode: its device goes in this pass, the per-peer ports join next pass.
  const singleLeft = !oneDevice && singleDeviceLeft(actual);
  const loopDevices: string[] = [];
  for (const d of devices) {
    const a = replaced.has(d.device) ? undefined : actual.links.get(d.device);
    if (a && !isOwnedDevice(a)) {
      plan.blocked.push(`${d.device} exists and is not managed by vxmesh (alias ${JSON.stringify(a.alias ?? '')}); link to ${d.peers.join(', ')} not made`);
      continue;
    }
    loopDevices.push(d.device);
    const reason = a ? recreateReason(a, d) : undefined;
    const fresh = !a || reason !== undefined;
    const mtu = deviceMtu(d, actual, lower);
    if (!a) {
      createDeviceLines(plan, d, mtu, actual);
      plan.changes.push(`create ${describeDevice(d)}`);
    } else if (reason) {
      plan.pre.push(`link del dev ${d.device}`);
      createDeviceLines(plan, d, mtu, actual);
      plan.changes.push(`recreate ${describeDevice(d)}: ${reason}`);
    } else {
      updateInPlace(plan, a, d, mtu);
    }
    if (usable.has(br.name) && !singleLeft) attach(plan, fresh ? undefined : a, d.device, br.name);
  }

  // The probe address on the probe bridge; a marked one on any other bridge of ours is stale.
  for (const b of bridges) if (usable.has(b.name)) addProbeAddress(plan, desired.probe?.bridge === b.name ? desired.probe : undefined, b.name, actual);
  if (!oneDevice) planLoopPrevention(plan, desired, actual, loopDevices);
  planIngress(plan, desired.ingress, actual.ingress);
  if (desired.frr && actual.frr) {
    const f = planFrrStep(desired.frr, actual.frr);
    plan.frr = f.command;
    plan.changes.push(...f.changes);
    plan.blocked.push(...f.blocked);
  }

  // A bridge vxmesh made that no segment here wants (renamed, or its segment removed): it goes
  // once its device has, unless containers are still on it (nothing would plug them back).
  const keep = new Set(bridges.map((b) => b.name));
  for (const a of actual.links.values()) {
    if (!isOwnedBridge(a) || keep.has(a.name)) continue;
    const foreign = foreignPorts(actual, a.name);
    if (foreign.length > 0) {
      plan.changes.push(`keep old bridge ${a.name}: it has ports vxmesh does not own (${foreign.join(', ')})`);
      continue;
    }
    plan.post.push(`link del dev ${a.name}`);
    plan.changes.push(`delete old bridge ${a.name}`);
  }
  return finish(plan);
}

/**
 * Create the bridge, or keep the one there up and at its MTU; whether ports may join it (false
 * when something that is not a bridge holds the name).
 */
function planBridge(plan: Draft, br: { name: string; mtu: number; alias: string }, actual: ActualState): boolean {
  const bridge = actual.links.get(br.name);
  if (!bridge) {
    plan.pre.push(`link add name ${br.name} type bridge`, `link set dev ${br.name} alias ${br.alias}`, `link set dev ${br.name} mtu ${br.mtu}`, `link set dev ${br.name} up`);
    plan.changes.push(`create bridge ${br.name} (mtu ${br.mtu})`);
    return true;
  }
  if (bridge.kind !== 'bridge') {
    plan.blocked.push(`${br.name} exists and is not a bridge (kind ${bridge.kind ?? 'none'}); no port is attached`);
    return false;
  }
  // A bridge someone else made (netplan, an admin) keeps its MTU: its other ports and its
  // owner's config depend on it. Status reports the mismatch (foreignBridgeMtu).
  if (isOwnedBridge(bridge)) {
    if (bridge.mtu !== br.mtu) {
      plan.pre.push(`link set dev ${br.name} mtu ${br.mtu}`);
      plan.changes.push(`set ${br.name} mtu ${bridge.mtu} -> ${br.mtu}`);
    }
    // The mesh's one bridge taken over by a segment (or handed back): its mark follows.
    if (bridge.alias !== br.alias) {
      plan.pre.push(`link set dev ${br.name} alias ${br.alias}`);
      plan.changes.push(`mark ${br.name} as ${br.alias}`);
    }
  }
  if (!bridge.up) {
    plan.pre.push(`link set dev ${br.name} up`);
    plan.changes.push(`bring ${br.name} up`);
  }
  return true;
}

/** The bridge's probe address (docs/health.md): added after the bridge exists, in the same batch. */
function addProbeAddress(plan: Draft, probe: DesiredState['probe'], bridge: string, actual: ActualState): void {
  const ipv6 = actual.ipv6 ?? { kernel: true, allDisabled: false, defaultDisabled: false, disabled: new Map() };
  const p = planProbeAddress(probe, bridge, actual.links.get(bridge), ipv6);
  plan.pre.push(...p.lines);
  plan.changes.push(...p.changes);
}

/**
 * Devices vxlansetup.sh left: unmarked VXLAN ports on the mesh bridge that point at a peer on
 * the mesh port. Kept, they would duplicate our links (two paths to one remote); they are
 * deleted in the same batch that creates their replacements, so the data path is down only
 * for the swap. Anything else unmarked is never touched.
 */
function replaceScriptDevices(plan: Draft, desired: DesiredState, actual: ActualState): Set<string> {
  const byRemote = new Map(desired.devices.flatMap((d) => d.remotes.map((r) => [r, d] as const)));
  const replaced = new Set<string>();
  for (const a of actual.links.values()) {
    const v = a.vxlan;
    const ours = v?.remote !== undefined ? byRemote.get(v.remote) : undefined;
    if (!v || !ours || isOwnedDevice(a) || !isSafeIfname(a.name) || a.master !== desired.bridge.name || v.port !== ours.port) continue;
    plan.pre.push(`link del dev ${a.name}`);
    plan.changes.push(`replace unmanaged ${a.name} (remote ${v.remote}, vni ${v.vni}, as vxlansetup.sh makes them) with ${ours.device} (vni ${ours.vni})`);
    replaced.add(a.name);
  }
  return replaced;
}

function updateInPlace(plan: Draft, a: LinkInfo, d: DesiredDevice, mtu: number): void {
  const v = a.vxlan!;
  const remote = d.shared ? undefined : d.remotes[0];
  if (v.remote !== remote || v.local !== d.local || v.learning !== d.shared) {
    plan.pre.push(`link set dev ${d.device} type vxlan ${remote ? `remote ${remote} ` : ''}local ${d.local} ${d.shared ? 'learning' : 'nolearning'}`);
    const what = [
      v.remote !== remote ? `remote ${v.remote ?? 'none'} -> ${remote}` : '',
      v.local !== d.local ? `local ${v.local ?? 'none'} -> ${d.local}` : '',
      v.learning !== d.shared ? `learning ${d.shared ? 'on' : 'off'}` : '',
    ].filter(Boolean);
    plan.changes.push(`update ${d.device}: ${what.join(', ')}`);
  }
  if (d.shared) {
    const have = new Set(a.defaultDsts ?? []);
    for (const r of d.remotes) if (!have.has(r)) plan.fdb.push(`fdb append ${ZERO_MAC} dev ${d.device} dst ${r}`);
    for (const r of have) if (!d.remotes.includes(r)) plan.fdb.push(`fdb del ${ZERO_MAC} dev ${d.device} dst ${r}`);
    if (plan.fdb.some((l) => l.includes(` dev ${d.device} `))) plan.changes.push(`set ${d.device} flood list to ${d.remotes.join(', ')}`);
  }
  if (a.mtu !== mtu) {
    plan.pre.push(`link set dev ${d.device} mtu ${mtu}`);
    plan.changes.push(`set ${d.device} mtu ${a.mtu} -> ${mtu}${mtu < d.mtu ? ` (the underlay cannot carry ${d.mtu})` : ''}`);
  }
  if (a.alias !== d.alias) {
    plan.pre.push(`link set dev ${d.device} alias ${d.alias}`);
    plan.changes.push(`rename ${d.device}'s peer to ${d.alias.slice(OWNER_PREFIX.length)}`);
  }
}

/**
 * Attach a port isolated, and bring it up in a later pass. `a` is undefined for a device
 * created by this plan (down, unattached). Every per-peer port is isolated, in `ebtables` mode
 * too: isolation blocks exactly the VXLAN-to-VXLAN forwarding the port rules drop, and
 * it is the kernel's own flag on the port, so a flushed chain that cannot be written back
 * (ebtables failing) still leaves no path from one tunnel to another. A port comes up only
 * once the kernel reads back that it is attached and isolated: `ip -force -batch` goes on
 * after a refused line, so an `isolated on` that failed must not be followed by `up` in the
 * same batch (reconcile re-observes between passes).
 */
function attach(plan: Draft, a: LinkInfo | undefined, dev: string, bridge: string): void {
  const attached = a?.master === bridge;
  if (!attached) {
    // A port's isolation flag can only be set once it is a port, so it joins while down.
    if (a?.up) plan.post.push(`link set dev ${dev} down`);
    plan.post.push(`link set dev ${dev} master ${bridge}`, `link set dev ${dev} type bridge_slave isolated on`);
    plan.changes.push(`attach ${dev} to ${bridge} (isolated)`);
    return;
  }
  if (!a.isolated) {
    // Before the chain may be removed and before the port comes up.
    plan.pre.push(`link set dev ${dev} type bridge_slave isolated on`);
    plan.changes.push(`set ${dev} isolated on`);
    return;
  }
  if (!a.up) {
    plan.post.push(`link set dev ${dev} up`);
    plan.changes.push(`bring ${dev} up`);
  }
}

/**
 * The chain: the gate, then one DROP per vxmesh port. Behind the gate only frames leaving
 * through a VXLAN port remain, so `-i A -o vxlan+ -j DROP` forbids A to every other tunnel
 * port, which is what the pairwise set A->B for all B did, in n rules instead of n*(n-1):
 * 63 at 64 peers, 499 at 500, where the pairwise set took 248,502 rules and ~22 s of kernel
 * time for each read-back. The `-o vxlan+` keeps each rule harmless without the gate.
 */
export function expectedChain(devices: string[]): string[] {
  return [GATE_RULE, ...devices.map(dropRule)];
}

/**
 * What the chain needs: nothing ([]), some rules appended (every present rule is wanted, some
 * are missing: a peer was added), or a rewrite (the gate is wrong, or a rule is stale,
 * foreign or doubled). Order among the DROP rules does not matter, only the gate's place.
 */
export function chainDiff(actual: string[], devices: string[]): string[] | 'rewrite' {
  if (actual[0] !== GATE_RULE) return 'rewrite';
  const want = new Set(devices.map(dropRule));
  const seen = new Set<string>();
  for (let k = 1; k < actual.length; k++) {
    const rule = actual[k]!;
    if (!want.has(rule) || seen.has(rule)) return 'rewrite';
    seen.add(rule);
  }
  return [...want].filter((r) => !seen.has(r));
}

/** Port rules wanted for `devices`, and how many of them the chain holds. */
export function chainCoverage(actual: string[], devices: string[]): { expected: number; present: number } {
  const wanted = new Set(devices.map(dropRule));
  return { expected: wanted.size, present: new Set(actual.filter((r) => wanted.has(r))).size };
}

function planLoopPrevention(plan: Draft, desired: DesiredState, actual: ActualState, devices: string[]): void {
  const eb = actual.ebtables;
  if (desired.loopPrevention === 'ebtables') {
    if (!eb.available) return;
    const diff = eb.chainExists ? chainDiff(eb.chain, devices) : 'rewrite';
    if (diff === 'rewrite') {
      plan.chain = devices;
      plan.changes.push(eb.chainExists ? `rewrite ${CHAIN} chain (${devices.length} port rules, had ${Math.max(0, eb.chain.length - 1)})` : `create ${CHAIN} chain (${devices.length} port rules)`);
    } else if (diff.length > 0) {
      plan.chainAppend = diff;
      plan.changes.push(`add ${diff.length} port rules to ${CHAIN}`);
    }
    planJump(plan, eb);
    return;
  }
  // Isolated mode: the chain goes only once every owned port on a bridge reads back isolated.
  const exposed = [...actual.links.values()].filter((l) => isOwnedDevice(l) && l.master !== undefined && l.isolated !== true);
  if (exposed.length === 0) planChainRemoval(plan, eb);
}

const JUMP_ARGS = JUMP_RULE.split(' ');

/**
 * One jump, and nothing before it in FORWARD that could accept a VXLAN frame: a rule such as
 * `-j ACCEPT` inserted first would let every flood bypass the chain. A misplaced or doubled
 * jump is deleted (ebtables -D removes the first match) and inserted again at the top; the
 * ports' isolation covers the moment between the two.
 */
function planJump(plan: Draft, eb: ActualState['ebtables']): void {
  if (eb.jumps === 1 && eb.jumpShadowedBy === undefined) return;
  for (let n = 0; n < eb.jumps; n++) plan.ebtables.push(['-t', 'filter', '-D', 'FORWARD', ...JUMP_ARGS]);
  plan.ebtables.push(['-t', 'filter', '-I', 'FORWARD', '1', ...JUMP_ARGS]);
  if (eb.jumps === 0) plan.changes.push(`insert FORWARD jump to ${CHAIN}`);
  else if (eb.jumpShadowedBy !== undefined) plan.changes.push(`move FORWARD jump to ${CHAIN} back to the top (the rule "${eb.jumpShadowedBy}" stood before it)`);
  else plan.changes.push(`delete ${eb.jumps - 1} duplicate FORWARD jump(s) to ${CHAIN}`);
}

function planChainRemoval(plan: Draft, eb: ActualState['ebtables']): void {
  if (!eb.available) return;
  for (let n = 0; n < eb.jumps; n++) plan.ebtables.push(['-t', 'filter', '-D', 'FORWARD', ...JUMP_ARGS]);
  // nf_tables refuses to delete a chain that still has rules: flush it first.
  if (eb.chainExists) plan.ebtables.push(['-t', 'filter', '-F', CHAIN], ['-t', 'filter', '-X', CHAIN]);
  if (eb.jumps > 0 || eb.chainExists) plan.changes.push(`remove ${CHAIN} chain and its FORWARD jump`);
}

/**
 * Everything vxmesh owns, removed: what `stop` does. Foreign objects are not in it. Loop
 * prevention goes last, in a later pass: only once the kernel reads back that no owned port
 * is attached (a device delete that failed leaves its port, and the chain with it).
 */
export function computeTeardown(actual: ActualState): Plan {
  const plan = newDraft();
  for (const a of actual.links.values()) {
    if (isOwnedDevice(a)) {
      plan.pre.push(`link del dev ${a.name}`);
      plan.changes.push(`delete ${a.name}`);
    }
  }
  for (const a of actual.links.values()) {
    if (isOwnedWireguard(a)) {
      plan.pre.push(`link del dev ${a.name}`);
      plan.changes.push(`delete WireGuard interface ${a.name}`);
    }
  }
  // A bridge with ports vxmesh does not own (containers' veths) stays: deleting it would
  // release them, and nothing plugs them back (LXD, libvirt and Docker attach once).
  const deleted = (l: LinkInfo) => isOwnedBridge(l) && foreignPorts(actual, l.name).length === 0;
  for (const a of actual.links.values()) {
    if (deleted(a)) {
      plan.pre.push(`link del dev ${a.name}`);
      plan.changes.push(`delete bridge ${a.name}`);
    } else if (isOwnedBridge(a)) {
      plan.changes.push(`keep bridge ${a.name}: it has ports vxmesh does not own (${foreignPorts(actual, a.name).join(', ')})`);
    }
  }
  const probe = planProbeAddressRemoval(actual.links.values(), deleted);
  plan.pre.unshift(...probe.lines);
  plan.changes.unshift(...probe.changes);
  if (attachedOwnedPorts(actual).length === 0) planChainRemoval(plan, actual.ebtables);
  planIngress(plan, undefined, actual.ingress);
  return finish(plan);
}

/**
 * Why the mesh bridge, made by someone else, does not suit the mesh MTU, or undefined. vxmesh
 * does not change it; an admin who wants vxmesh to own the bridge marks it with its alias.
 */
export function foreignBridgeMtu(bridge: LinkInfo | undefined, mtu: number): string | undefined {
  if (!bridge || bridge.kind !== 'bridge' || isOwnedBridge(bridge) || bridge.mtu === mtu) return undefined;
  return `bridge ${bridge.name} was not made by vxmesh and has mtu ${bridge.mtu}, not the mesh mtu ${mtu}; vxmesh leaves it as it is (set its mtu, or hand it to vxmesh with \`ip link set dev ${bridge.name} alias ${BRIDGE_ALIAS}\`)`;
}

/** Ports of `bridge` that are not vxmesh's VXLAN devices. */
export function foreignPorts(actual: ActualState, bridge: string): string[] {
  return [...actual.links.values()].filter((l) => l.master === bridge && !isOwnedDevice(l)).map((l) => l.name).sort();
}

/** Owned VXLAN devices that are ports of some bridge. */
export function attachedOwnedPorts(actual: ActualState): string[] {
  return [...actual.links.values()].filter((l) => isOwnedDevice(l) && l.master !== undefined).map((l) => l.name);
}

function planIngress(plan: Draft, want: IngressDesired | undefined, have: IngressState): void {
  if (want && !ingressMatches(want, have)) {
    plan.nft = renderIngress(want, { packets: have.dropped, bytes: have.droppedBytes, clearOut: have.clearOut ?? 0, wgDropped: have.wgDropped ?? 0 });
    const what = want.wireguard
      ? `udp ${want.wireguard.port} only from ${want.peers4.length + want.peers6.length} peer addresses, udp ${want.port} only through ${want.wireguard.device}; clear VXLAN to peers dropped on output`
      : `udp ${want.port} only from ${want.peers4.length + want.peers6.length} peer addresses`;
    plan.changes.push(`${have.present ? 'rewrite' : 'create'} ingress filter (${what})`);
  } else if (!want && have.present) {
    plan.nft = renderIngressRemoval();
    plan.changes.push('remove ingress filter');
  }
}

/** Text for `ebtables-restore --noflush`: names only our chain, so it replaces just that chain, atomically. */
export function renderChainRestore(devices: string[]): string {
  const lines = ['*filter', `:${CHAIN} RETURN`];
  for (const r of expectedChain(devices)) lines.push(`-A ${CHAIN} ${r}`);
  return lines.join('\n') + '\n';
}

/** Text for `ebtables-restore --noflush` that appends to our chain (no chain line: nothing is replaced). */
export function renderChainAppend(rules: string[]): string {
  return ['*filter', ...rules.map((r) => `-A ${CHAIN} ${r}`)].join('\n') + '\n';
}

/** The ebtables names used when no backend is given (plain names, as the distribution links them). */
const PLAIN_NAMES: Pick<EbtablesBackend, 'ebtables' | 'restore'> = { ebtables: 'ebtables', restore: 'ebtables-restore' };

/** The command a step runs: its tool, or for ebtables roles the backend's command. */
export function commandOf(step: Step, eb: Pick<EbtablesBackend, 'ebtables' | 'restore'> = PLAIN_NAMES): string {
  if (step.tool === 'ebtables') return eb.ebtables;
  if (step.tool === 'ebtables-restore') return eb.restore;
  return step.tool;
}

/**
 * A step as a shell command line, its input as a here-document: what `vxmesh plan` prints.
 * Run by `sh`, the text does exactly what apply does (a test proves it).
 */
export function renderStep(step: Step, eb?: Pick<EbtablesBackend, 'ebtables' | 'restore'>): string {
  const line = [commandOf(step, eb), ...step.args.map(shellWord)].join(' ');
  if (step.input === undefined) return line;
  // A secret's here-document would not run as printed: say so in a comment, not in the input.
  if (step.secret) return `${line} <<'EOF'  # secret input not shown\n${redactedInput(step.input)}\nEOF`;
  return `${line} <<'EOF'\n${step.input.trimEnd()}\nEOF`;
}

/** An argument as sh reads it back: quoted only where it holds more than plain characters (vtysh's multi-line `-c`). */
function shellWord(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./!-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

/** What stands in for a secret step's input wherever it is shown (plan output, error log). */
export function redactedInput(input: string): string {
  return `<secret: ${Buffer.byteLength(input)} bytes>`;
}

/** The plan as the exact commands apply runs, one step after the other, with the backend's ebtables commands. */
export function renderPlan(plan: Plan, eb?: Pick<EbtablesBackend, 'ebtables' | 'restore'>): string {
  return plan.steps.map((s) => renderStep(s, eb)).join('\n');
}
