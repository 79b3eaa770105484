import { planFrr, vtyshArgs, type FrrDesired } from './frr-config.js';
import type { FrrState } from '../model/frr.js';

/** The `vtysh -c` step of a plan (args and input), what it changes, and what stops it. */
export interface FrrStep {
  command: { args: string[] } | undefined;
  changes: string[];
  blocked: string[];
}

/**
 * Pure: FRR's part of a plan. Without bgpd nothing can be applied; without zebra the config
 * goes in but nothing reaches the kernel: both are said, with what to do.
 */
export function planFrrStep(want: FrrDesired, frr: FrrState): FrrStep {
  const where = want.pathspace ? ` (pathspace ${want.pathspace})` : '';
  if (!frr.reachable) return { command: undefined, changes: [], blocked: [`FRR${where} is not reachable with vtysh: ${frr.error ?? 'no daemon answers'}; EVPN needs zebra and bgpd running (vxmesh doctor)`] };
  const blocked: string[] = [];
  if (!frr.daemons.includes('zebra')) blocked.push(`FRR's zebra${where} is not running: no remote VTEP or MAC reaches the kernel (enable zebra in /etc/frr/daemons)`);
  if (!frr.daemons.includes('bgpd')) {
    blocked.push(`FRR's bgpd${where} is not running: the EVPN config cannot be applied (set bgpd=yes in /etc/frr/daemons, then systemctl restart frr)`);
    return { command: undefined, changes: [], blocked };
  }
  const p = planFrr(want, frr.running ?? { lines: [], asn: undefined });
  blocked.push(...p.blocked);
  // One `-c` with the lines: vtysh runs them in order and stops at the first it refuses, with a
  // non-zero exit (fed on stdin it goes on and exits 0; `-f` cannot read a pipe).
  return { command: p.input ? { args: [...vtyshArgs(want.pathspace), '-c', `configure terminal\n${p.input.trimEnd()}`] } : undefined, changes: p.changes, blocked };
}
