/**
 * What vxmesh writes into FRR for `control: evpn`, and how it tells its lines from an admin's.
 * Pure. vxmesh renders only lines that differ from FRR's defaults (a default written out shows
 * as a change at every reload) and applies only the difference with `vtysh -f` (no restart,
 * no session reset). Ownership is explicit, like the alias on devices: the peer-group named
 * PEER_GROUP, its members and its address-family lines are vxmesh's, added, changed and removed
 * by it; `bgp router-id` and `advertise-all-vni` are added when missing and never removed;
 * everything else in FRR is the admin's and is never touched (docs/evpn.md).
 */
import type { FrrLine, FrrRunning } from '../model/frr.js';
import type { BgpSettings } from '../model/types.js';

export type { FrrLine, FrrRunning };

/** The peer-group vxmesh's neighbours belong to: its mark in FRR's config. */
export const PEER_GROUP = 'vxmesh';
export const EVPN_AF = 'address-family l2vpn evpn';

/** The BGP part of FRR that vxmesh wants, for this server. */
export interface FrrDesired {
  asn: number;
  routerId: string;
  /** Set in the config (enforced); otherwise the underlay address, used only where FRR has none. */
  routerIdExplicit: boolean;
  neighbors: string[];
  /** `vtysh -N <pathspace>`; undefined: the host's FRR. */
  pathspace: string | undefined;
}

export function computeFrrDesired(bgp: BgpSettings, ownIpv4: string | undefined): FrrDesired | undefined {
  const routerId = bgp.routerId ?? ownIpv4;
  if (!routerId) return undefined;
  return { asn: bgp.asn, routerId, routerIdExplicit: bgp.routerId !== undefined, neighbors: [...bgp.neighbors], pathspace: bgp.frrPathspace };
}

/** The lines, in the order FRR needs them (a group's remote-as before its members). */
export function renderFrrLines(d: FrrDesired): FrrLine[] {
  const bgp = [`router bgp ${d.asn}`];
  const af = [...bgp, EVPN_AF];
  return [
    { context: bgp, line: `bgp router-id ${d.routerId}` },
    { context: bgp, line: `neighbor ${PEER_GROUP} peer-group` },
    // iBGP to the route reflectors: the group's AS is this server's.
    { context: bgp, line: `neighbor ${PEER_GROUP} remote-as ${d.asn}` },
    ...d.neighbors.map((n) => ({ context: bgp, line: `neighbor ${n} peer-group ${PEER_GROUP}` })),
    { context: af, line: `neighbor ${PEER_GROUP} activate` },
    { context: af, line: 'advertise-all-vni' },
  ];
}

/** The fragment as FRR config text: what `vxmesh plan` shows and docs/evpn.md describes. */
export function renderFrrFragment(d: FrrDesired): string {
  return renderInput([], renderFrrLines(d));
}

/**
 * Parse `show running-config`: FRR indents each context by one space per level and closes it
 * with `exit`/`exit-address-family`; `!` lines are separators.
 */
export function parseRunningConfig(text: string): FrrRunning {
  const lines: FrrLine[] = [];
  const stack: string[] = [];
  let asn: number | undefined;
  for (const raw of text.split('\n')) {
    if (raw.trim() === '' || /^\s*(!|end$|exit$|exit-address-family$|exit-vrf$|exit-vnc$)/.test(raw)) continue;
    const depth = raw.length - raw.trimStart().length;
    const line = raw.trim();
    stack.length = Math.min(stack.length, depth);
    lines.push({ context: [...stack], line });
    stack.push(line);
    const m = depth === 0 ? /^router bgp (\d+)$/.exec(line) : null;
    if (m) asn = Number(m[1]);
  }
  return { lines, asn };
}

const key = (l: FrrLine) => [...l.context, l.line].join('\n');

/** A line vxmesh owns: the peer-group's own lines and its members'. */
export function isOwnedFrrLine(l: FrrLine): boolean {
  if (!l.context[0]?.startsWith('router bgp ')) return false;
  return new RegExp(`^neighbor ${PEER_GROUP}( |$)`).test(l.line) || new RegExp(`^neighbor \\S+ peer-group ${PEER_GROUP}$`).test(l.line);
}

export interface FrrPlan {
  /** `vtysh -f` input; undefined when FRR already has every line. */
  input: string | undefined;
  changes: string[];
  blocked: string[];
}

/**
 * Pure: the vtysh input that takes the running config to the wanted lines. Lines vxmesh owns
 * that are no longer wanted go first (a member with `no neighbor X`, a group line with
 * `no ...`); then the missing wanted lines, in order. A BGP instance with another AS is never
 * replaced (that resets every session of the host): it is reported as blocked.
 */
export function planFrr(want: FrrDesired, running: FrrRunning): FrrPlan {
  if (running.asn !== undefined && running.asn !== want.asn) {
    return { input: undefined, changes: [], blocked: [`FRR runs router bgp ${running.asn}, but mesh.bgp.asn is ${want.asn}: vxmesh does not replace a BGP instance (that resets every session); set mesh.bgp.asn ${running.asn}, or remove the instance by hand`] };
  }
  // A router id the admin set stays unless the config names one: changing it resets every session.
  const adminId = !want.routerIdExplicit && running.lines.some((l) => l.context.length === 1 && l.context[0] === `router bgp ${want.asn}` && l.line.startsWith('bgp router-id '));
  const lines = renderFrrLines(want).filter((l) => !(adminId && l.line.startsWith('bgp router-id ')));
  const wanted = new Set(lines.map(key));
  const have = new Set(running.lines.map(key));
  const removals: FrrLine[] = [];
  for (const l of running.lines) {
    if (!isOwnedFrrLine(l) || wanted.has(key(l))) continue;
    const member = /^neighbor (\S+) peer-group /.exec(l.line);
    removals.push({ context: l.context, line: member ? `no neighbor ${member[1]}` : `no ${l.line}` });
  }
  const missing = lines.filter((l) => !have.has(key(l)));
  if (removals.length === 0 && missing.length === 0) return { input: undefined, changes: [], blocked: [] };
  const changes: string[] = [];
  if (removals.length) changes.push(`FRR: ${removals.map((r) => r.line).join('; ')}`);
  if (missing.length) changes.push(`FRR: add ${missing.map((l) => l.line).join('; ')}`);
  return { input: renderInput(removals, missing), changes, blocked: [] };
}

/** Config text for `vtysh -f`: each line under its contexts, entered once and left in order. */
function renderInput(first: FrrLine[], then: FrrLine[]): string {
  const out: string[] = [];
  let open: string[] = [];
  for (const l of [...first, ...then]) {
    let common = 0;
    while (common < open.length && common < l.context.length && open[common] === l.context[common]) common++;
    for (let k = open.length - 1; k >= common; k--) out.push(`${' '.repeat(k)}${open[k] === EVPN_AF ? 'exit-address-family' : 'exit'}`);
    for (let k = common; k < l.context.length; k++) out.push(`${' '.repeat(k)}${l.context[k]}`);
    open = l.context;
    out.push(`${' '.repeat(l.context.length)}${l.line}`);
  }
  for (let k = open.length - 1; k >= 0; k--) out.push(`${' '.repeat(k)}${open[k] === EVPN_AF ? 'exit-address-family' : 'exit'}`);
  return out.join('\n') + '\n';
}

/** vtysh's arguments for one FRR: `-N <pathspace>` where it is not the host's. */
export function vtyshArgs(pathspace: string | undefined): string[] {
  return pathspace ? ['-N', pathspace] : [];
}
