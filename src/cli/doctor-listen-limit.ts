/**
 * `vxmesh doctor` on a host whose FRR reflects for the mesh: a `bgp listen range` accepts
 * dynamic peers, and FRR takes at most `bgp listen limit` of them (default 100, not shown in
 * the running config). Past it new servers get no session: the default has stopped real
 * reflectors. Pure: judged from the parsed `show running-config`.
 */
import type { FrrRunning } from '../model/frr.js';
import type { DoctorCheck } from './doctor-checks.js';

/** FRR's default for `bgp listen limit` (BGP_DYNAMIC_NEIGHBORS_LIMIT_DEFAULT). */
export const FRR_DEFAULT_LISTEN_LIMIT = 100;
/** The value the fix proposes (FRR accepts up to 65535). */
const SUGGESTED_LIMIT = 5000;

/** Undefined when no BGP instance has a listen range (this host is no reflector). */
export function listenLimitVerdict(running: FrrRunning | undefined): DoctorCheck | undefined {
  const bgp = (running?.lines ?? []).filter((l) => l.context.length === 1 && /^router bgp \d+/.test(l.context[0]!));
  const ranged = [...new Set(bgp.filter((l) => l.line.startsWith('bgp listen range ')).map((l) => l.context[0]!))];
  if (ranged.length === 0) return undefined;
  const low: string[] = [];
  const ok: string[] = [];
  for (const instance of ranged) {
    const set = bgp.find((l) => l.context[0] === instance && /^bgp listen limit \d+$/.test(l.line));
    const limit = set ? Number(set.line.split(' ').at(-1)) : undefined;
    if (limit === undefined || limit <= FRR_DEFAULT_LISTEN_LIMIT) low.push(`${instance}: ${limit === undefined ? `no bgp listen limit (FRR's default, ${FRR_DEFAULT_LISTEN_LIMIT})` : `bgp listen limit ${limit}`}`);
    else ok.push(`${instance}: bgp listen limit ${limit}`);
  }
  if (low.length === 0) return { name: 'frr listen limit', severity: 'ok', message: `a reflector (bgp listen range); ${ok.join('; ')}` };
  const fix = ranged.filter((i) => low.some((l) => l.startsWith(`${i}:`))).map((i) => `vtysh -c 'configure terminal' -c '${i}' -c 'bgp listen limit ${SUGGESTED_LIMIT}' (and the same line in frr.conf)`);
  return {
    name: 'frr listen limit',
    severity: 'warning',
    message: `a reflector (bgp listen range) that accepts at most ${FRR_DEFAULT_LISTEN_LIMIT} dynamic peers or fewer: ${low.join('; ')}; servers past the limit get no session`,
    fix: `${fix.join('; ')}: raise it past the fleet size`,
  };
}
