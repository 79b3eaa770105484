import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execaSync } from 'execa';
import { runCliFromSource } from './helpers/cli.js';
import { afterEach, describe, expect, it } from 'vitest';
import { formatIssue, loadConfig, parseConfig, type LoadResult } from '../../src/config/load.js';
import { MAX_CONFIG_BYTES } from '../../src/config/read.js';

const PEERS = 'peers:\n  - { name: a, id: 1, address: 198.18.0.1 }\n  - { name: b, id: 2, address: 198.18.0.2 }\n';

function errors(r: LoadResult): string[] {
  if (r.ok) throw new Error('expected errors, config was accepted');
  return r.issues.map(formatIssue);
}

describe('YAML aliases never make the loader throw', () => {
  it('an unknown alias in a drop-in is an error with file:line:col', () => {
    const r = parseConfig([{ path: '/c/peers.yaml', text: PEERS }, { path: '/c/peers.d/x.yaml', text: 'peers:\n  - { name: c, id: 3, address: 198.18.0.3, dev: *nope }\n' }]);
    expect(errors(r)).toEqual(['/c/peers.d/x.yaml:2:49: YAML: unknown alias *nope (no anchor &nope before it)']);
  });

  it('101 uses of one anchor are an error at the 101st', () => {
    const uses = Array.from({ length: 101 }, (_, k) => `k${k}: *x`).join('\n');
    const r = parseConfig([{ path: '/c/peers.yaml', text: `${PEERS}a: &x 1\n${uses}\n` }]);
    const e = errors(r);
    expect(e).toHaveLength(1);
    expect(e[0]).toBe('/c/peers.yaml:105:7: YAML: anchor &x is used more than 100 times (the limit that guards against alias expansion attacks)');
  });

  it('a billion-laughs file is an error, not an exception', () => {
    const laughs = 'a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n';
    const e = errors(parseConfig([{ path: '/c/peers.yaml', text: laughs }]));
    expect(e).toHaveLength(1);
    expect(e[0]).toMatch(/^\/c\/peers\.yaml:4:\d+: YAML: aliases expand too much/);
  });

  it('ordinary aliases still work', () => {
    const r = parseConfig([{ path: '/c/peers.yaml', text: 'peers:\n  - { name: a, id: 1, address: &a 198.18.0.1 }\n  - { name: b, id: 2, address: 198.18.0.2, legacy: { remotes: [*a] } }\n' }]);
    expect(r.ok).toBe(true);
  });
});

describe('config files that are not plain files', () => {
  let dir = '';
  let server: Server | undefined;
  afterEach(() => {
    server?.close();
    server = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  function configDir(): string {
    dir = mkdtempSync(join(tmpdir(), 'vxmesh-cfg-'));
    mkdirSync(join(dir, 'peers.d'));
    writeFileSync(join(dir, 'peers.yaml'), PEERS);
    return dir;
  }

  it('a FIFO in peers.d is an error naming it, not a hang', async () => {
    const d = configDir();
    execaSync('mkfifo', [join(d, 'peers.d', 'pipe.yaml')]);
    const started = Date.now();
    const e = errors(await loadConfig(d));
    console.info(`FIFO in peers.d: loader answered in ${Date.now() - started} ms`);
    expect(e).toEqual([`${d}/peers.d/pipe.yaml:1:1: is a FIFO, not a regular file; only regular files are read`]);
  }, 10_000);

  it('a socket, a device and a directory are refused by name', async () => {
    const d = configDir();
    server = createServer();
    await new Promise<void>((r) => server!.listen(join(d, 'peers.d', 'a-socket.yaml'), r));
    symlinkSync('/dev/zero', join(d, 'peers.d', 'b-zero.yaml'));
    mkdirSync(join(d, 'peers.d', 'c-dir.yaml'));
    const e = errors(await loadConfig(d));
    expect(e).toEqual([
      `${d}/peers.d/a-socket.yaml:1:1: is a socket (or a device without a driver), not a regular file; only regular files are read`,
      `${d}/peers.d/b-zero.yaml:1:1: is a character device, not a regular file; only regular files are read`,
      `${d}/peers.d/c-dir.yaml:1:1: is a directory, not a regular file; only regular files are read`,
    ]);
  }, 10_000);

  it('a file over 1 MiB is refused', async () => {
    const d = configDir();
    writeFileSync(join(d, 'peers.d', 'big.yaml'), `# ${'x'.repeat(MAX_CONFIG_BYTES)}\n`);
    expect(errors(await loadConfig(d))).toEqual([`${d}/peers.d/big.yaml:1:1: is ${MAX_CONFIG_BYTES + 3} bytes; config files may be at most ${MAX_CONFIG_BYTES} bytes`]);
  });

  it('a symlink to a system file does not have its lines echoed', async () => {
    const d = configDir();
    const system = join(d, 'system-file');
    // Lines like /etc/passwd, /etc/login.defs and /etc/nsswitch.conf have them.
    writeFileSync(system, ['root:x:0:0:root:/root:/bin/bash', 'SECRETVALUE_ENAB\t\tyes', 'LOG_SECRET_TWO\tno', 'passwd: files systemd', 'group: files', 'shadow: files', 'hosts: files dns', 'a_very_long_key_name_that_goes_on_and_on_secretpart: 1'].join('\n') + '\n');
    symlinkSync(system, join(d, 'peers.d', 'sys.yaml'));
    const text = errors(await loadConfig(d)).join('\n');
    console.info(`errors for a symlinked system file:\n${text}`);
    expect(text).toMatch(/sys\.yaml:\d+:\d+: /);
    for (const leak of ['root:x', '/bin/bash', 'SECRETVALUE', 'LOG_SECRET', 'files', 'secretpart']) expect(text).not.toContain(leak);
    // Key names, cut short, are all that may show.
    writeFileSync(system, ['passwd: files systemd', 'group: files', 'shadow: files', 'hosts: files dns', 'a_very_long_key_name_that_goes_on_and_on_secretpart: 1'].join('\n') + '\n');
    const keys = errors(await loadConfig(d)).join('\n');
    expect(keys).toBe(`${d}/peers.d/sys.yaml:1:1: passwd: unknown keys "passwd", "group", "shadow" and 2 more`);
  });
});

describe('mesh.port on a well-known port of another service', () => {
  const withPort = (port: number, extra = '') => parseConfig([{ path: '/c/peers.yaml', text: `mesh:\n  port: ${port}\n${extra}${PEERS}` }]);
  const warnings = (r: LoadResult) => {
    if (!r.ok) throw new Error(errors(r).join('\n'));
    return r.config.warnings;
  };

  it('warns for DNS, NTP, mDNS, IPsec NAT-T and any port below 1024, saying what breaks', () => {
    expect(warnings(withPort(53))).toEqual([
      "mesh.port 53 is the UDP port of DNS: the ingress filter drops UDP to port 53 from every host that is not a peer, so DNS on this server stops answering them; the VXLAN devices also hold the port (VXLAN's own port is 4789; older Linux setups use 8472)",
    ]);
    for (const [port, service] of [[123, 'NTP'], [5353, 'mDNS'], [4500, 'IPsec NAT traversal'], [443, 'QUIC'], [1812, 'RADIUS'], [1000, 'a system service']] as const) {
      expect(warnings(withPort(port)).join('\n')).toContain(`mesh.port ${port} is the UDP port of ${service}`);
    }
    expect(warnings(withPort(67, '  ingress_filter: false\n'))[0]).toContain('the VXLAN devices hold the port, so DHCP server cannot use it');
  });

  it('does not warn for the VXLAN ports', () => {
    expect(warnings(withPort(4789))).toEqual([]);
    expect(warnings(withPort(8472))).toEqual([]);
    expect(warnings(parseConfig([{ path: '/c/peers.yaml', text: PEERS }]))).toEqual([]);
  });

  it('`vxmesh check` prints the warning and still exits 0', async () => {
    const d = mkdtempSync(join(tmpdir(), 'vxmesh-port-'));
    try {
      writeFileSync(join(d, 'peers.yaml'), `mesh:\n  port: 123\n${PEERS}`);
      const r = await runCliFromSource(['check', d]);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toContain('warning: mesh.port 123 is the UDP port of NTP: the ingress filter drops UDP to port 123 from every host that is not a peer');
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
