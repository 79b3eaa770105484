import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/** The unit and the Ansible role, checked with the real tools (installed by scripts/deps-debian.sh). */
describe('service files', () => {
  // systemd-analyze verify needs /usr/bin/vxmesh to exist: test/netns/package.test.ts runs it on
  // the unit inside the built package; test/install/install.test.ts on the unit install.sh writes.
  // The daemon's node flags come from /usr/bin/vxmesh (test/netns/package.test.ts checks them).
  it('the unit runs the packaged command for start, readiness and reload', () => {
    const unit = readFileSync('systemd/vxmesh.service', 'utf8');
    expect(unit).not.toMatch(/NODE_OPTIONS|\/usr\/bin\/node/);
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/vxmesh daemon --config \/etc\/vxmesh --state-dir \/var\/lib\/vxmesh$/m);
    expect(unit).toMatch(/^ExecStartPost=\/usr\/bin\/vxmesh wait-ready --timeout \d+$/m);
    expect(unit).toMatch(/^ExecReload=\/usr\/bin\/vxmesh reload /m);
  });

  it('systemd-analyze security rates the unit at 2.0 or lower', async () => {
    const r = await execa('systemd-analyze', ['security', '--offline=true', 'systemd/vxmesh.service'], { reject: false });
    const m = /Overall exposure level for vxmesh\.service: (\d+\.\d+)/.exec(r.stdout);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    expect(Number(m![1])).toBeLessThanOrEqual(2.0);
  });

  it('the Ansible role renders the mesh for every host and passes ansible-lint', async () => {
    // Five playbook runs and ansible-lint: minutes on a loaded 2-core machine.
    const r = await execa('bash', ['test/install/ansible-check.sh'], { reject: false, timeout: 900_000 });
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
  }, 900_000);
});
