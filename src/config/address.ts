import { isIP } from 'node:net';

/**
 * Canonical text of an IP address (IPv6 compressed and lower-case), or undefined. Zone ids
 * (`fe80::1%eth0`) are refused: a peer address must be routable, not link-local to one NIC.
 */
export function canonicalAddress(text: string): string | undefined {
  const family = isIP(text);
  if (family === 4) return text;
  if (family !== 6 || text.includes('%')) return undefined;
  try {
    return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

export function addressFamily(text: string): 4 | 6 {
  return isIP(text) === 6 ? 6 : 4;
}
