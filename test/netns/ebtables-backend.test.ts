import { execa } from 'execa';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainRules, CLI, forwardRules, Lab, peersYaml, ping, statusJson, vxlanLinks, waitFor, waitForConverged } from '../helpers/lab.js';
import { findInPath } from '../../src/kernel/ebtables-backend.js';

/**
 * A directory of symlinks: `links` maps a name in the directory to the command it runs
 * (found in the test's own PATH). Put first in a daemon's PATH, it changes what the plain
 * names mean for that daemon only.
 */
function binDir(lab: Lab, name: string, links: Record<string, string>): string {
  const dir = join(lab.dir, name);
  mkdirSync(dir, { recursive: true });
  for (const [as, target] of Object.entries(links)) {
    const file = findInPath(target);
    if (!file) throw new Error(`${target} not found in PATH: this test needs it (Debian: apt-get install iptables ebtables)`);
    symlinkSync(file, join(dir, as));
  }
  return dir;
}

const LEGACY_AS_PLAIN = { ebtables: 'ebtables-legacy', 'ebtables-save': 'ebtables-legacy-save', 'ebtables-restore': 'ebtables-legacy-restore' };

/** Run the CLI in a server's namespace with the given PATH; returns exit code and output. */
async function cli(nsName: string, path: string, ...args: string[]) {
  const r = await execa('ip', ['netns', 'exec', nsName, process.execPath, CLI, ...args], { reject: false, env: { PATH: path }, timeout: 30_000 });
  return { code: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

describe('a host whose plain ebtables is the legacy one, on a kernel without legacy xtables', () => {
  const lab = new Lab();
  let path = '';
  beforeAll(async () => {
    await lab.init();
    path = `${binDir(lab, 'legacy-first', LEGACY_AS_PLAIN)}:${process.env.PATH}`;
    for (let i = 1; i <= 3; i++) await lab.addServer(i);
    for (const s of lab.servers) {
      lab.writeConfig(s, peersYaml(lab.servers));
      lab.startDaemon(s, [], { PATH: path });
    }
    for (const s of lab.servers) await waitForConverged(s, 2);
    for (const s of lab.servers) await lab.addContainer(s, s.index);
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  it('is such a host: plain ebtables in that PATH fails for real', async () => {
    const r = await execa('ip', ['netns', 'exec', lab.servers[0]!.ns, 'ebtables', '-t', 'filter', '-L'], { reject: false, env: { PATH: path } });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain("The kernel doesn't support the ebtables 'filter' table");
  });

  it('comes up loop-safe on the nf_tables backend, and status names it', async () => {
    for (const s of lab.servers) {
      const rules = await chainRules(s.ns);
      expect(rules[0]).toBe('-o ! vxlan+ -j RETURN');
      expect(rules.length).toBe(1 + 2); // the gate and one rule per port
      expect(await forwardRules(s.ns)).toContain('-A FORWARD -i vxlan+ -j VXMESH');
      const st = await statusJson(s);
      expect(st.state, JSON.stringify(st.reasons)).toBe('running');
      expect(st.loopPrevention).toMatchObject({ mode: 'ebtables', backend: { name: 'nft', ebtables: 'ebtables-nft', save: 'ebtables-nft-save', restore: 'ebtables-nft-restore' }, expected: 2, present: 2, problem: null });
      expect(lab.log(s)).toContain('"msg":"ebtables backend: nft (ebtables-nft)"');
    }
    const table = await cli(lab.servers[0]!.ns, path, 'status', '--state-dir', lab.servers[0]!.stateDir);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^Loop prevention: +ebtables \(backend nft: ebtables-nft\), 2\/2 rules present, 2 ports isolated$/m);
    for (const a of lab.containers) for (const b of lab.containers) if (a !== b) expect(await ping(a, b.address), `${a.address} -> ${b.address}`).toBe(true);
  });

  it('`vxmesh plan` shows the nf_tables commands', async () => {
    const s1 = lab.servers[0]!;
    // A config with a fourth peer, in a directory of its own: the plan appends its rules.
    const dir = join(lab.dir, 'plan-config');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'peers.yaml'), peersYaml([...lab.servers, { index: 9, address: '198.18.0.9' }]));
    const r = await cli(s1.ns, path, 'plan', '--config', dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('problem:');
    expect(r.stdout).toContain("ebtables-nft-restore --noflush <<'EOF'");
    expect(r.stdout).toContain('-A VXMESH -i vxlan9 -o vxlan+ -j DROP');
    expect(r.stdout).not.toMatch(/^ebtables(-restore)? /m);
  });
});

describe('a host where no ebtables works', () => {
  const lab = new Lab();
  let path = '';
  beforeAll(async () => {
    await lab.init();
    // Only the tools the daemon needs besides ebtables, and the legacy ebtables under every
    // name it has; nothing of /usr/sbin, so no ebtables-nft.
    const dir = binDir(lab, 'no-nft', { ip: 'ip', bridge: 'bridge', nft: 'nft', ...LEGACY_AS_PLAIN, 'ebtables-legacy': 'ebtables-legacy', 'ebtables-legacy-save': 'ebtables-legacy-save', 'ebtables-legacy-restore': 'ebtables-legacy-restore' });
    path = `${dir}:/usr/bin:/bin`;
    expect(findInPath('ebtables-nft', path)).toBeUndefined();
    for (let i = 1; i <= 2; i++) await lab.addServer(i);
    for (const s of lab.servers) {
      lab.writeConfig(s, peersYaml(lab.servers));
      lab.startDaemon(s, [], { PATH: path });
    }
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  it('attaches no port; status, the log, check and plan say what to install', async () => {
    const s1 = lab.servers[0]!;
    const st = await waitFor('status to report the missing backend', async () => {
      const r = await statusJson(s1);
      return r.loopPrevention?.problem?.includes('no working ebtables') || JSON.stringify(r.loopPrevention);
    }).then(() => statusJson(s1));
    expect(st.state).toBe('degraded');
    expect(st.loopPrevention.backend).toBeNull();
    expect(st.loopPrevention.problem).toContain('apt-get install iptables');
    expect(st.loopPrevention.problem).toContain('loop_prevention: isolated');
    expect(st.loopPrevention.problem).toContain("ebtables-legacy: The kernel doesn't support the ebtables 'filter' table.");
    expect(st.reasons.join('\n')).toContain('apt-get install iptables');
    // The devices may exist, but none is on the bridge, and no rule was attempted.
    await waitFor('the vxlan device to be created', async () => (await vxlanLinks(s1.ns)).length === 1);
    for (const s of lab.servers) for (const l of await vxlanLinks(s.ns)) expect(l.master, `${s.ns} ${l.ifname}`).toBeUndefined();
    const log = lab.log(s1);
    expect(log).toMatch(/"level":50,.*"msg":"no working ebtables: no VXLAN port joins the bridge until one works"/);
    expect(log).toContain('apt-get install iptables');

    const table = await cli(s1.ns, path, 'status', '--state-dir', s1.stateDir);
    expect(table.code).toBe(1);
    expect(table.stdout).toMatch(/^Loop prevention: +ebtables \(no working ebtables\), 0\/1 rules present, 0 ports isolated: PROBLEM: no working ebtables .*apt-get install iptables/m);

    const check = await cli(s1.ns, path, 'check', s1.configDir);
    expect(check.code).toBe(0);
    expect(check.stdout).toMatch(/^warning: this host: no working ebtables .*apt-get install iptables.*loop_prevention: isolated/m);

    const plan = await cli(s1.ns, path, 'plan', '--config', s1.configDir);
    expect(plan.stderr).toMatch(/^problem: no working ebtables .*apt-get install iptables/m);
    expect(plan.stdout).not.toMatch(/master vxbr0/);
  });

  it('with `loop_prevention: isolated` (the other fix) the same hosts come up and pass traffic', async () => {
    for (const s of lab.servers) lab.writeConfig(s, peersYaml(lab.servers, { loop_prevention: 'isolated' }));
    for (const s of lab.servers) await waitForConverged(s, 1);
    for (const s of lab.servers) await lab.addContainer(s, s.index);
    expect(await ping(lab.containers[0]!, lab.containers[1]!.address)).toBe(true);
    for (const s of lab.servers) {
      const st = await statusJson(s);
      expect(st.state, JSON.stringify(st.reasons)).toBe('running');
      expect(st.loopPrevention).toMatchObject({ mode: 'isolated', backend: null, expected: 1, present: 1, problem: null });
      for (const l of await vxlanLinks(s.ns)) expect(l.linkinfo?.info_slave_data?.isolated).toBe(true);
    }
  });
});
