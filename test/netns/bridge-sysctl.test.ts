import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, buildMesh, ns, peersYaml, statusJson, waitFor } from '../helpers/lab.js';

/**
 * The mesh bridge takes no IPv6 configuration from containers: the daemon sets accept_ra=0 and
 * autoconf=0 on it (the kernel's defaults are 1), and a bridge where it cannot is reported.
 */
describe('bridge IPv6 sysctls', () => {
  const lab = new Lab();
  beforeAll(async () => {
    await buildMesh(lab, 2);
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  const read = async (nsName: string, key: string) => (await ns(nsName, 'cat', `/proc/sys/net/ipv6/conf/vxbr0/${key}`)).trim();

  it('the daemon sets accept_ra=0 and autoconf=0 on its bridge, and again after they are changed', async () => {
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

  it('Router Advertisements from a container (radvd) configure no mesh host, while a host that accepts them (the control) takes the prefix', async () => {
    if (!existsSync('/usr/sbin/radvd')) throw new Error('this test needs radvd (Debian: apt-get install radvd; scripts/deps-debian.sh installs it)');
    const [c1, c2] = lab.containers as [(typeof lab.containers)[0], (typeof lab.containers)[0]];
    // Prefix from 2001:2::/48, the IPv6 benchmarking range (the lab's IPv6 underlay uses 2001:2::/64).
    const prefix = '2001:2:ff::';
    const taken = '2001:2:ff:0:'; // how `ip` prints an address SLAAC made from it
    for (const [c, forwarding] of [[c1, 1], [c2, 0]] as const) {
      await ns(c.ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.eth0.disable_ipv6=0', `net.ipv6.conf.all.forwarding=${forwarding}`);
    }
    const conf = join(lab.dir, 'radvd.conf');
    writeFileSync(conf, `interface eth0 {\n  AdvSendAdvert on;\n  MinRtrAdvInterval 3;\n  MaxRtrAdvInterval 4;\n  AdvDefaultLifetime 600;\n  prefix ${prefix}/64 { AdvOnLink on; AdvAutonomous on; };\n};\n`);
    // radvd sends from eth0's link-local address: wait until it is there (past DAD).
    await waitFor('a link-local address on container 1', async () => {
      const [eth0] = JSON.parse(await ns(c1.ns, 'ip', '-j', '-6', 'addr', 'show', 'dev', 'eth0')) as { addr_info: { local: string; tentative?: boolean }[] }[];
      return eth0!.addr_info.some((a) => a.local.startsWith('fe80:') && !a.tentative);
    }, 10_000, 200);
    const radvd = lab.spawn(c1.ns, ['radvd', '--nodaemon', '-C', conf, '-p', join(lab.dir, 'radvd.pid'), '-m', 'stderr'], join(lab.dir, 'radvd.log'));
    try {
      // The control: container 2, behind the other server's tunnel, accepts RAs as any host does.
      await waitFor('container 2 to take an address from the advertised prefix', async () => (await ns(c2.ns, 'ip', '-6', 'addr', 'show', 'dev', 'eth0')).includes(`inet6 ${taken}`), 30_000, 500).catch((err: Error) => {
        throw new Error(`${err.message}\nradvd: ${readFileSync(join(lab.dir, 'radvd.log'), 'utf8')}`);
      });
      expect(await ns(c2.ns, 'ip', '-6', 'route', 'show', 'default')).toContain('via fe80::');
      for (const s of lab.servers) {
        expect(await ns(s.ns, 'ip', '-6', 'addr', 'show')).not.toContain(`inet6 ${taken}`);
        expect((await ns(s.ns, 'ip', '-6', 'route', 'show', 'default')).trim()).toBe('');
      }
    } finally {
      await lab.kill(radvd);
    }
  }, 60_000);
});
