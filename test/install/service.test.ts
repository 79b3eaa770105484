import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DAEMON_NODE_FLAGS } from '../../src/daemon/node-flags.js';

/** The unit and the Ansible role, checked with the real tools (installed by scripts/deps-debian.sh). */
describe('service files', () => {
  it('systemd-analyze verify passes on systemd/vxmesh.service', async () => {
    const r = await execa('systemd-analyze', ['verify', 'systemd/vxmesh.service'], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
  });

  it('the unit runs node with the daemon flags the tests and the benchmark use', () => {
    const unit = readFileSync('systemd/vxmesh.service', 'utf8');
    expect(unit).toMatch(new RegExp(`^ExecStart=/usr/bin/node ${DAEMON_NODE_FLAGS.join(' ')} /opt/vxmesh/dist/cli/main\\.js daemon `, 'm'));
  });

  it('systemd-analyze security rates the unit at 2.0 or lower', async () => {
    const r = await execa('systemd-analyze', ['security', '--offline=true', 'systemd/vxmesh.service'], { reject: false });
    const m = /Overall exposure level for vxmesh\.service: (\d+\.\d+)/.exec(r.stdout);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    expect(Number(m![1])).toBeLessThanOrEqual(2.0);
  });

  it('the Ansible role renders the mesh for every host and passes ansible-lint', async () => {
    const r = await execa('bash', ['test/install/ansible-check.sh'], { reject: false, timeout: 300_000 });
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
  }, 300_000);
});
