import type { ActualState } from '../model/state.js';

/**
 * A VXLAN port is a bridge port: an IPv6 link-local address of its own serves nothing, and its
 * duplicate-address probes, router solicitations and MLD reports would go through the tunnel
 * into the remote bridge and on to its containers (and each address's events wake the daemon).
 * Set before the device first comes up; skipped where the kernel has no IPv6.
 */
export function noPortAddressLines(device: string, actual: ActualState): string[] {
  return actual.ipv6?.kernel === false ? [] : [`link set dev ${device} addrgenmode none`];
}
