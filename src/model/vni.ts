import type { Peer } from './types.js';

/**
 * VNI of the link between peers with ids a and b: base + j*(j-1)/2 + i for i < j.
 * Both ends compute it alone; it is unique per unordered pair, and adding a peer
 * changes no other pair's number.
 */
export function pairVni(a: number, b: number, base: number): number {
  const i = Math.min(a, b);
  const j = Math.max(a, b);
  return base + (j * (j - 1)) / 2 + i;
}

/**
 * VNI of the link between `self` and `peer` as seen from `self`.
 * vxlansetup.sh names the link to its k-th remote VNI k, so when either end runs the
 * script we use the index of the other end in its list. Returns undefined when the
 * script's list does not name the other end (the script has no link to it).
 */
export function linkVni(self: Peer, peer: Peer, base: number): number | undefined {
  if (self.legacy) return indexOrUndefined(self.legacy.remotes, peer.address);
  if (peer.legacy) return indexOrUndefined(peer.legacy.remotes, self.address);
  return pairVni(self.id, peer.id, base);
}

function indexOrUndefined(list: string[], address: string): number | undefined {
  const k = list.indexOf(address);
  return k < 0 ? undefined : k;
}
