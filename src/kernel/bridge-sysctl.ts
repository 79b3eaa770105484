import { readFile, writeFile } from 'node:fs/promises';

/** The IPv6 settings a mesh bridge must have on the host: no RA, no SLAAC. */
const WANTED: ReadonlyArray<readonly [string, string]> = [
  ['accept_ra', '0'],
  ['autoconf', '0'],
];

/**
 * Keep the host from taking IPv6 configuration from the mesh bridge. The bridge carries the
 * containers' traffic, and with the kernel's default accept_ra=1 a Router Advertisement sent
 * by any container gives the host a default route and an address through it. Writes
 * /proc/sys/net/ipv6/conf/<bridge>/{accept_ra,autoconf} (the kernel allows it to a process
 * with CAP_NET_ADMIN in the network namespace; the unit leaves that path writable) only where
 * they differ, so a steady reconcile costs two small reads. A bridge that does not exist yet,
 * or a kernel without IPv6 on it, has nothing to set. Returns one message per setting that
 * could not be made, for status; never throws.
 */
export async function pinBridgeIpv6(bridge: string, root = '/proc/sys/net/ipv6/conf'): Promise<string[]> {
  if (!bridge || bridge.includes('/') || bridge === '.' || bridge === '..') return [`bridge name ${JSON.stringify(bridge)} is not a device name`];
  const problems: string[] = [];
  for (const [key, value] of WANTED) {
    const path = `${root}/${bridge}/${key}`;
    let now: string;
    try {
      now = (await readFile(path, 'utf8')).trim();
    } catch {
      continue; // no such device (yet) or no IPv6 on it
    }
    if (now === value) continue;
    try {
      await writeFile(path, value);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      problems.push(`cannot set net.ipv6.conf.${bridge}.${key}=${value} (${code}; it is ${now}): Router Advertisements from containers can configure this host's IPv6 through ${bridge}`);
    }
  }
  return problems;
}
