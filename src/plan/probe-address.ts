import { ipv6UsableOn, type Ipv6State, type LinkInfo } from '../model/state.js';
import { PROBE_V4_PREFIX_LEN, PROBE_V6_PREFIX_LEN, V4_ROUTED_MAX_ID, isProbeAddress, probeAddressV4, probeAddressV6 } from '../model/probe-address.js';

/** The probe address the bridge should carry: part of the desired kernel state. */
export interface ProbeAddressDesired {
  bridge: string;
  id: number;
}

export type ProbeAddressChoice = { ok: true; family: 6 | 4; address: string } | { ok: false; reason: string };

/** Pure: IPv6 link-local where IPv6 works on the bridge, else the IPv4 link-local fallback, else why neither. */
export function chooseProbeAddress(want: ProbeAddressDesired, ipv6: Ipv6State): ProbeAddressChoice {
  if (ipv6UsableOn(ipv6, want.bridge)) return { ok: true, family: 6, address: probeAddressV6(want.id) };
  const v4 = want.id <= V4_ROUTED_MAX_ID ? probeAddressV4(want.id) : undefined;
  if (v4) return { ok: true, family: 4, address: v4 };
  return { ok: false, reason: `IPv6 is disabled on ${want.bridge} and peer id ${want.id} is too large for the IPv4 link-local fallback (ids up to ${V4_ROUTED_MAX_ID}: the bridge routes only 169.254.0.0/17, never the metadata address 169.254.169.254)` };
}

function withLen(addr: string, bridge?: LinkInfo): string {
  return `${addr}/${bridge?.prefixLens?.get(addr) ?? wantLen(addr)}`;
}

function wantLen(addr: string): number {
  return addr.includes(':') ? PROBE_V6_PREFIX_LEN : PROBE_V4_PREFIX_LEN;
}

/**
 * Pure: `ip -batch` lines that give the bridge its probe address and remove stale marked ones
 * (another id, the other family, or probing switched off). `bridge` is undefined while the
 * bridge is still to be created by the same batch. DAD is skipped: the address is unique by
 * construction (ids are unique) and must be usable at once.
 */
export function planProbeAddress(want: ProbeAddressDesired | undefined, bridgeName: string, bridge: LinkInfo | undefined, ipv6: Ipv6State): { lines: string[]; changes: string[] } {
  const lines: string[] = [];
  const changes: string[] = [];
  if (bridge && bridge.kind !== 'bridge') return { lines, changes };
  const choice = want ? chooseProbeAddress(want, ipv6) : undefined;
  const target = choice?.ok ? choice.address : undefined;
  const have: string[] = [];
  for (const a of (bridge?.addresses ?? []).filter(isProbeAddress)) {
    const len = bridge?.prefixLens?.get(a) ?? wantLen(a);
    if (a !== target || len === wantLen(a)) {
      have.push(a);
      continue;
    }
    // The wanted address with the wrong length (an IPv4 /16 from before, which routed all of
    // 169.254/16 onto the bridge): taken off here, added back below.
    lines.push(`addr del ${a}/${len} dev ${bridgeName}`);
    changes.push(`replace probe address ${a}/${len} on ${bridgeName} with /${wantLen(a)}`);
  }
  for (const a of have) {
    if (a === target) continue;
    lines.push(`addr del ${withLen(a, bridge)} dev ${bridgeName}`);
    changes.push(`remove probe address ${a} from ${bridgeName}`);
  }
  if (target && !have.includes(target)) {
    lines.push(`addr add ${withLen(target)} dev ${bridgeName}${target.includes(':') ? ' nodad' : ''}`);
    changes.push(`add probe address ${target} to ${bridgeName}`);
  }
  return { lines, changes };
}

/** For `stop`: marked addresses on the bridges that stay (those `deleted` are removed whole). */
export function planProbeAddressRemoval(links: Iterable<LinkInfo>, deleted: (l: LinkInfo) => boolean): { lines: string[]; changes: string[] } {
  const lines: string[] = [];
  const changes: string[] = [];
  for (const l of links) {
    if (l.kind !== 'bridge' || deleted(l)) continue;
    for (const a of l.addresses.filter(isProbeAddress)) {
      lines.push(`addr del ${withLen(a, l)} dev ${l.name}`);
      changes.push(`remove probe address ${a} from ${l.name}`);
    }
  }
  return { lines, changes };
}
