import { afterAll, describe, expect, it } from 'vitest';
import { Lab, buildMesh, ns, peersYaml, statusJson, waitFor } from '../helpers/lab.js';

/**
 * The mesh bridge takes no IPv6 configuration from containers: the daemon sets accept_ra=0 and
 * autoconf=0 on it (the kernel's defaults are 1), and a bridge where it cannot is reported.
 */
describe('bridge IPv6 sysctls', () => {
  const lab = new Lab();
  afterAll(async () => {
    await lab.cleanup();
  });

  const read = async (nsName: string, key: string) => (await ns(nsName, 'cat', `/proc/sys/net/ipv6/conf/vxbr0/${key}`)).trim();

  it('the daemon sets accept_ra=0 and autoconf=0 on its bridge, and again after they are changed', async () => {
    await buildMesh(lab, 2);
    for (const s of lab.servers) {
      expect(await read(s.ns, 'accept_ra')).toBe('0');
      expect(await read(s.ns, 'autoconf')).toBe('0');
    }
    // Someone (or something) turns RA back on: the next reconcile (a config reload) sets it again.
    const s1 = lab.servers[0]!;
    await ns(s1.ns, 'sysctl', '-qw', 'net.ipv6.conf.vxbr0.accept_ra=1');
    lab.writeConfig(s1, peersYaml(lab.servers, {}, '# edited'));
    await waitFor('accept_ra back to 0', async () => (await read(s1.ns, 'accept_ra')) === '0', 10_000);
    expect((await statusJson(s1)).state).toBe('running');
  });
});
