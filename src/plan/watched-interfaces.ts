import { ownerOf, type ActualState } from '../model/state.js';
import type { DesiredState } from './desired.js';

/**
 * The interfaces whose link and address events should wake a reconcile: every one vxmesh owns
 * or wants (its VXLAN devices, the bridge, the WireGuard interface) and the underlay. Undefined (every interface) while
 * the goal is not a mesh with a known underlay, or the kernel has not been read: then nothing
 * tells which names will matter.
 */
export function watchedInterfaces(desired: DesiredState | undefined, observed: ActualState | undefined): string[] | undefined {
  if (!desired || !observed) return undefined;
  const names = new Set<string>([desired.bridge.name]);
  for (const d of desired.devices) names.add(d.device).add(d.underlay);
  for (const g of desired.segments) names.add(g.bridge.name).add(g.single.device).add(g.single.underlay);
  // Encrypted: the VXLAN devices ride the WireGuard interface, which rides the underlay.
  if (desired.wireguard) names.add(desired.wireguard.device).add(desired.wireguard.underlay);
  // Owned objects that are no longer wanted: their removal is still vxmesh's to see through.
  for (const l of observed.links.values()) if (ownerOf(l)) names.add(l.name);
  return [...names].sort();
}
