import type { LinkInfo } from '../model/state.js';

/** What status says of any bridge port vxmesh wants, from the kernel's view of it (`a`). */
export function portState(a: LinkInfo | undefined, bridge: string): { present: boolean; up: boolean; attached: boolean; mtu: number | null } {
  return { present: a !== undefined, up: a?.up ?? false, attached: a?.master === bridge, mtu: a?.mtu ?? null };
}
