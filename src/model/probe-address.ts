/**
 * The probe address of a peer on the mesh bridge, derived from its id alone, so no address
 * plan is needed and both ends compute the same address with no coordination.
 *
 * IPv6: fe80::7678:<id bits 47-32>:<31-16>:<15-0> (0x7678 is "vx"), prefix /64 on the bridge.
 * IPv4 fallback (IPv6 disabled on the host): 169.254.<1 + id / 256>.<id % 256>/17. The address
 * is defined for ids below 65024 (RFC 3927 keeps 169.254.0.x and 169.254.255.x out of use), but
 * the bridge routes only 169.254.0.0/17 (ids below 32512): a /16 would send all of 169.254/16,
 * and with it the cloud metadata service at 169.254.169.254, onto the tenants' bridge.
 */

export const PROBE_V6_MARK = 0x7678;
export const PROBE_V6_PREFIX_LEN = 64;
export const PROBE_V4_PREFIX_LEN = 17;
/** The largest id whose IPv4 fallback address lies in the routed 169.254.0.0/17. */
export const V4_ROUTED_MAX_ID = 126 * 256 + 255;
/** Ids up to 2^48 - 1 fit the three low groups of the IPv6 address; config ids are far below. */
const V6_MAX_ID = 2 ** 48 - 1;
export const V4_MAX_ID = 254 * 256 - 1;

export type ProbeFamily = 6 | 4;

export function probeAddressV6(id: number): string {
  if (!Number.isInteger(id) || id < 0 || id > V6_MAX_ID) throw new RangeError(`peer id ${id} does not fit a probe address`);
  const groups = [Math.floor(id / 2 ** 32), Math.floor(id / 2 ** 16) % 2 ** 16, id % 2 ** 16];
  // Written compressed and lower-case, as `ip -j addr` prints it.
  return compressV6([0xfe80, 0, 0, 0, PROBE_V6_MARK, ...groups]);
}

/** The IPv4 fallback address, or undefined when the id is too large for 169.254.1.0-169.254.254.255. */
export function probeAddressV4(id: number): string | undefined {
  if (!Number.isInteger(id) || id < 0 || id > V4_MAX_ID) return undefined;
  return `169.254.${1 + Math.floor(id / 256)}.${id % 256}`;
}

export function probeAddress(id: number, family: ProbeFamily): string | undefined {
  return family === 6 ? probeAddressV6(id) : probeAddressV4(id);
}

/**
 * Whether an address on a bridge is one vxmesh put there: how `stop` finds what it owns on a
 * bridge it did not create. The marked IPv6 form is specific; the IPv4 range is what the
 * fallback uses, so an admin's own 169.254.x.y on that bridge would be taken for ours.
 */
export function isProbeAddress(addr: string): boolean {
  if (addr.includes(':')) {
    const g = expandV6(addr);
    return g !== undefined && g[0] === 0xfe80 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === PROBE_V6_MARK;
  }
  const m = /^169\.254\.(\d+)\.(\d+)$/.exec(addr);
  return m !== null && Number(m[1]) >= 1 && Number(m[1]) <= 254 && Number(m[2]) <= 255;
}

/** The peer id a probe address stands for, or undefined. */
export function idFromProbeAddress(addr: string): number | undefined {
  const bare = addr.split('%')[0]!;
  if (!isProbeAddress(bare)) return undefined;
  if (bare.includes(':')) {
    const g = expandV6(bare)!;
    return g[5]! * 2 ** 32 + g[6]! * 2 ** 16 + g[7]!;
  }
  const [, , c, d] = bare.split('.').map(Number) as [number, number, number, number];
  return (c - 1) * 256 + d;
}

/** Eight 16-bit groups of an IPv6 address (no zone), or undefined when it is not one. */
export function expandV6(addr: string): number[] | undefined {
  if (!/^[0-9a-fA-F:]+$/.test(addr) || addr.split('::').length > 2) return undefined;
  const [head, tail] = addr.includes('::') ? addr.split('::') as [string, string] : [addr, undefined];
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((x) => (/^[0-9a-fA-F]{1,4}$/.test(x) ? parseInt(x, 16) : NaN)));
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  if (fill < 0 || (tail !== undefined && fill < 1)) return undefined;
  const all = [...h, ...new Array<number>(fill).fill(0), ...t];
  return all.length === 8 && all.every((x) => Number.isInteger(x)) ? all : undefined;
}

/** RFC 5952 text: the longest run (>= 2) of zero groups becomes "::". */
function compressV6(groups: number[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}
