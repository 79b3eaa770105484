import { execa } from 'execa';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAEMON_NODE_FLAGS } from '../../src/daemon/node-flags.js';

/**
 * scripts/pack.sh + scripts/install.sh into a temporary root: the file tree
 * docs/operations.md documents, an upgrade that keeps the config, and removal.
 * Nothing here touches the machine's own /opt, /etc or systemd.
 */
const REPO = resolve('.');
const run = (cmd: string, args: string[], env: Record<string, string> = {}) => execa(cmd, args, { reject: false, env: { ...process.env, ...env }, timeout: 300_000 });

describe('install into a temporary root', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vxmesh-install-'));
  const root = join(dir, 'root');
  let tarball = '';

  beforeAll(async () => {
    const p = await run('bash', [join(REPO, 'scripts/pack.sh'), dir]);
    expect(p.exitCode, p.stderr).toBe(0);
    tarball = p.stdout.trim();
    const i = await run('bash', [join(REPO, 'scripts/install.sh'), '--from', tarball, '--root', root]);
    expect(i.exitCode, i.stderr + i.stdout).toBe(0);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('produces the documented file tree', () => {
    for (const f of [
      'opt/vxmesh/package.json',
      'opt/vxmesh/package-lock.json',
      'opt/vxmesh/dist/cli/main.js',
      'opt/vxmesh/node_modules/yaml/package.json',
      'opt/vxmesh/node_modules/fastify/package.json',
      'opt/vxmesh/systemd/vxmesh.service',
      'opt/vxmesh/etc/vxmesh/peers.yaml',
      'opt/vxmesh/etc/vxmesh/peers.d/10-node.yaml.example',
      'opt/vxmesh/scripts/install.sh',
      'opt/vxmesh/docs/operations.md',
      'etc/systemd/system/vxmesh.service',
      'etc/vxmesh/peers.yaml',
      'etc/vxmesh/peers.d/10-node.yaml.example',
    ]) {
      expect(existsSync(join(root, f)), f).toBe(true);
    }
    // Runtime dependencies only.
    expect(existsSync(join(root, 'opt/vxmesh/node_modules/typescript'))).toBe(false);
    expect(existsSync(join(root, 'opt/vxmesh/node_modules/vitest'))).toBe(false);
    expect(existsSync(join(root, 'opt/vxmesh/src'))).toBe(false);
    expect(existsSync(join(root, 'opt/vxmesh.new')) || existsSync(join(root, 'opt/vxmesh.old'))).toBe(false);
    expect(existsSync(join(root, 'var/lib/vxmesh'))).toBe(false); // systemd's StateDirectory makes it
    const link = join(root, 'usr/local/bin/vxmesh');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe('/opt/vxmesh/dist/cli/main.js');
    expect(statSync(join(root, 'opt/vxmesh/dist/cli/main.js')).mode & 0o111).not.toBe(0);
    expect(readFileSync(join(root, 'etc/vxmesh/peers.yaml'), 'utf8')).toBe(readFileSync(join(REPO, 'etc/vxmesh/peers.yaml'), 'utf8'));
    expect(statSync(join(root, 'etc/vxmesh/peers.yaml')).mode & 0o777).toBe(0o644);
  });

  it('points the unit at this machine\'s node, and the unit verifies', async () => {
    const unit = readFileSync(join(root, 'etc/systemd/system/vxmesh.service'), 'utf8');
    const node = realpathSync(process.execPath);
    const cli = `${node} ${DAEMON_NODE_FLAGS.join(' ')} /opt/vxmesh/dist/cli/main.js`;
    expect(unit).toContain(`ExecStart=${cli} daemon`);
    expect(unit).toContain(`ExecStartPost=${cli} wait-ready --timeout 60`);
    expect(unit).toContain(`ExecReload=${cli} reload`);
    expect(unit).not.toMatch(/^Exec\w*=\/usr\/bin\/vxmesh/m);
    // systemd-analyze is required (scripts/deps-debian.sh installs it): a missing tool fails here.
    // --man=no: the man page comes with the Debian package, not with this installer.
    const v = await run('systemd-analyze', ['verify', '--man=no', join(root, 'etc/systemd/system/vxmesh.service')]);
    expect(v.exitCode, v.stderr).toBe(0);
  });

  it('the installed CLI runs and accepts the sample config and the example drop-in', async () => {
    const cli = join(root, 'opt/vxmesh/dist/cli/main.js');
    const help = await run(process.execPath, [cli, '--help']);
    expect(help.exitCode).toBe(0);
    const check = await run(process.execPath, [cli, 'check', join(root, 'etc/vxmesh')]);
    expect(check.stderr).toBe('');
    expect(check.stdout).toMatch(/^ok: 1 file\(s\), 3 peers, bridge vxbr0, mtu 1450, port 4789/);
    copyFileSync(join(root, 'etc/vxmesh/peers.d/10-node.yaml.example'), join(root, 'etc/vxmesh/peers.d/10-node.yaml'));
    const withNode = await run(process.execPath, [cli, 'check', join(root, 'etc/vxmesh')]);
    expect(withNode.stdout).toMatch(/^ok: 2 file\(s\), 3 peers/);
    rmSync(join(root, 'etc/vxmesh/peers.d/10-node.yaml'));
  });

  it('an upgrade from the source tree replaces the program and keeps the config', async () => {
    const edited = 'peers:\n  - { name: a, id: 1, address: 198.51.100.1 }\n';
    writeFileSync(join(root, 'etc/vxmesh/peers.yaml'), edited);
    writeFileSync(join(root, 'opt/vxmesh/stale-file'), 'from the old version\n');
    const i = await run('bash', [join(REPO, 'scripts/install.sh'), '--root', root]);
    expect(i.exitCode, i.stderr).toBe(0);
    expect(readFileSync(join(root, 'etc/vxmesh/peers.yaml'), 'utf8')).toBe(edited);
    expect(existsSync(join(root, 'opt/vxmesh/stale-file'))).toBe(false);
    expect(existsSync(join(root, 'opt/vxmesh/dist/cli/main.js'))).toBe(true);
    expect(i.stdout).not.toContain('wrote the sample');
  });

  it('refuses a source without a build, and --uninstall keeps /etc/vxmesh', async () => {
    const bad = await run('bash', [join(REPO, 'scripts/install.sh'), '--from', dir, '--root', join(dir, 'other')]);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/has no package.json/);
    const u = await run('bash', [join(REPO, 'scripts/install.sh'), '--uninstall', '--root', root]);
    expect(u.exitCode, u.stderr).toBe(0);
    expect(existsSync(join(root, 'opt/vxmesh'))).toBe(false);
    expect(existsSync(join(root, 'etc/systemd/system/vxmesh.service'))).toBe(false);
    expect(existsSync(join(root, 'usr/local/bin/vxmesh'))).toBe(false);
    expect(existsSync(join(root, 'etc/vxmesh/peers.yaml'))).toBe(true);
    renameSync(join(root, 'etc/vxmesh'), join(dir, 'kept-etc'));
  });
});
