import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, chainRules, peersYaml, ping, waitForConverged, type Server } from '../helpers/lab.js';
import { DAEMON_NODE_FLAGS } from '../../src/daemon/node-flags.js';

/**
 * The Debian package `npm run package` builds (npm test builds it first), tested without
 * installing it: extracted with dpkg-deb -x into a temporary root, its /usr/bin/vxmesh runs a
 * 3-server mesh in namespaces with no node reachable. lintian and systemd-analyze check the
 * package and its unit.
 */
const REPO = resolve('.');
const BUILD = join(REPO, 'build');
// The tools the daemon runs, and nothing else: no node, no npm.
const DAEMON_TOOLS = ['ip', 'bridge', 'nft', 'ebtables', 'ebtables-save', 'ebtables-restore', 'ebtables-nft', 'ebtables-nft-save', 'ebtables-nft-restore', 'ebtables-legacy', 'ebtables-legacy-save', 'ebtables-legacy-restore'];

function findDeb(): string {
  const debs = existsSync(BUILD) ? readdirSync(BUILD).filter((f) => /^vxmesh_.+_.+\.deb$/.test(f)) : [];
  if (debs.length !== 1) throw new Error(`expected one build/vxmesh_<version>_<arch>.deb, found ${debs.length}: run npm run package (npm test does)`);
  return join(BUILD, debs[0]!);
}

describe('the Debian package', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vxmesh-deb-'));
  const root = join(dir, 'root');
  const tools = join(dir, 'tools');
  const exe = join(root, 'usr/bin/vxmesh');
  // A minimal environment: PATH holds the extracted package and the daemon's tools only.
  const env = { PATH: `${join(root, 'usr/bin')}:${tools}`, LANG: 'C.UTF-8' };
  let deb = '';
  const lab = new Lab();

  beforeAll(async () => {
    deb = findDeb();
    const x = await execa('dpkg-deb', ['-x', deb, root], { reject: false });
    expect(x.exitCode, x.stderr).toBe(0);
    mkdirSync(tools);
    for (const t of DAEMON_TOOLS) {
      const where = await execa('sh', ['-c', `command -v ${t}`], { reject: false });
      if (where.exitCode === 0) symlinkSync(where.stdout.trim(), join(tools, t));
    }
  });
  afterAll(async () => {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('holds the executable, the unit, conffiles, docs, man page and completion; depends on what the daemon runs', async () => {
    for (const f of [
      'usr/bin/vxmesh',
      'usr/lib/vxmesh/vxmesh',
      'usr/lib/systemd/system/vxmesh.service',
      'etc/vxmesh/peers.yaml',
      'etc/vxmesh/peers.d/10-node.yaml.example',
      'usr/share/doc/vxmesh/copyright',
      'usr/share/doc/vxmesh/changelog.Debian.gz',
      'usr/share/man/man8/vxmesh.8.gz',
      'usr/share/bash-completion/completions/vxmesh',
    ]) expect(existsSync(join(root, f)), f).toBe(true);
    expect(statSync(exe).mode & 0o755).toBe(0o755);
    expect(statSync(join(root, 'usr/lib/vxmesh/vxmesh')).mode & 0o755).toBe(0o755);
    // /usr/bin/vxmesh starts the executable with the daemon's node flags, the ones its code cache was built for.
    expect(readFileSync(exe, 'utf8')).toContain(`NODE_OPTIONS='${DAEMON_NODE_FLAGS.join(' ')}' exec `);
    const field = async (name: string) => (await execa('dpkg-deb', ['-f', deb, name])).stdout;
    expect(deb).toMatch(new RegExp(`/vxmesh_${JSON.parse(readFileSync('package.json', 'utf8')).version}-\\d+_${(await execa('dpkg', ['--print-architecture'])).stdout}\\.deb$`));
    const depends = await field('Depends');
    for (const p of ['iproute2', 'nftables', 'iptables', 'libc6', 'wireguard-tools']) expect(depends).toMatch(new RegExp(`(^|, )${p}\\b`));
    expect(await field('Recommends')).toBe('wireguard-go');
    const control = (await execa('dpkg-deb', ['--ctrl-tarfile', deb]).pipe('tar', ['-xO', './conffiles'])).stdout;
    expect(control.split('\n').sort()).toEqual(['/etc/vxmesh/peers.d/10-node.yaml.example', '/etc/vxmesh/peers.yaml']);
    // Build outputs never land in git.
    const ignored = await execa('git', ['check-ignore', '-q', deb], { reject: false });
    expect(ignored.exitCode).toBe(0);
  });

  it('runs without node: node is not reachable from the test environment, vxmesh is', async () => {
    const whichNode = await execa('/bin/sh', ['-c', 'command -v node || command -v nodejs'], { env, extendEnv: false, reject: false });
    expect(whichNode.exitCode, `node found at ${whichNode.stdout}`).not.toBe(0);
    const help = await execa('/bin/sh', ['-c', 'vxmesh --help'], { env, extendEnv: false, reject: false });
    expect(help.exitCode, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^vxmesh: keeps a unicast VXLAN mesh/);
    // The embedded code cache is used: V8 would warn "Code cache data rejected" under other flags.
    expect(help.stderr).toBe('');
    const check = await execa(exe, ['check', join(root, 'etc/vxmesh')], { env, extendEnv: false, reject: false });
    expect(check.stdout, check.stderr).toMatch(/^ok: 1 file\(s\), 3 peers/);
  });

  it('the extracted /usr/bin/vxmesh runs a 3-server mesh in namespaces: every pair pings', async () => {
    await lab.init();
    for (let i = 1; i <= 3; i++) await lab.addServer(i);
    for (const s of lab.servers) {
      lab.writeConfig(s, peersYaml(lab.servers));
      startPackaged(s);
    }
    for (const s of lab.servers) {
      // The packaged readiness check, as the unit's ExecStartPost= runs it.
      const ready = await execa('ip', ['netns', 'exec', s.ns, exe, 'wait-ready', '--timeout', '60', '--state-dir', s.stateDir], { env, extendEnv: false, reject: false });
      expect(ready.exitCode, `${ready.stderr}\n${lab.log(s)}`).toBe(0);
      await waitForConverged(s, 2);
      expect((await chainRules(s.ns))[0]).toBe('-o ! vxlan+ -j RETURN');
    }
    for (const s of lab.servers) await lab.addContainer(s, s.index);
    for (const a of lab.containers) {
      for (const b of lab.containers) {
        if (a !== b) expect(await ping(a, b.address), `${a.address} -> ${b.address}`).toBe(true);
      }
    }
    const st = await execa('ip', ['netns', 'exec', lab.servers[0]!.ns, exe, 'status', '--json', '--state-dir', lab.servers[0]!.stateDir], { env, extendEnv: false, reject: false });
    expect(JSON.parse(st.stdout).state).toBe('running');
  });

  it('reload (the unit\'s ExecReload=) fails on an invalid config, and the mesh keeps running', async () => {
    const s1 = lab.servers[0]!;
    lab.writeConfig(s1, peersYaml(lab.servers) + '  - { name: bad, id: 9, address: 300.1.2.3 }\n');
    const r = await execa('ip', ['netns', 'exec', s1.ns, exe, 'reload', '--state-dir', s1.stateDir], { env, extendEnv: false, reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/peers\.yaml:\d+:\d+: peers\[3\]\.address/);
    const [a, b] = lab.containers;
    expect(await ping(a!, b!.address)).toBe(true);
    lab.writeConfig(s1, peersYaml(lab.servers));
    const ok = await execa('ip', ['netns', 'exec', s1.ns, exe, 'reload', '--state-dir', s1.stateDir], { env, extendEnv: false, reject: false });
    expect(ok.exitCode, ok.stdout + ok.stderr).toBe(0);
  });

  it('lintian reports no errors', async () => {
    const r = await execa('lintian', ['--fail-on', 'error', deb], { reject: false, timeout: 300_000 });
    console.log(`lintian ${deb.slice(REPO.length + 1)}:\n${r.stdout || '(no tags)'}`);
    expect(r.stdout).not.toMatch(/^E: /m);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
  }, 300_000);

  it('systemd-analyze verify (commands and man page from the package) and security (exposure <= 2.0) on the packaged unit', async () => {
    const packaged = readFileSync(join(root, 'usr/lib/systemd/system/vxmesh.service'), 'utf8');
    expect(packaged).toBe(readFileSync('systemd/vxmesh.service', 'utf8'));
    // verify checks that every Exec command exists and the Documentation= man page is found:
    // point both at the extracted package.
    const unit = join(dir, 'vxmesh.service');
    writeFileSync(unit, packaged.replaceAll('/usr/bin/vxmesh', exe));
    const v = await execa('systemd-analyze', ['verify', unit], { reject: false, env: { MANPATH: join(root, 'usr/share/man') } });
    expect(v.exitCode, v.stderr).toBe(0);
    expect(v.stderr).toBe('');
    const s = await execa('systemd-analyze', ['security', '--offline=true', join(root, 'usr/lib/systemd/system/vxmesh.service')], { reject: false });
    const m = /Overall exposure level for vxmesh\.service: (\d+\.\d+)/.exec(s.stdout);
    expect(m, s.stdout + s.stderr).not.toBeNull();
    console.log(`systemd-analyze security: exposure ${m![1]}`);
    expect(Number(m![1])).toBeLessThanOrEqual(2.0);
  });

  // Started here rather than by the lab: the daemon gets the minimal environment (no node on
  // PATH), and the lab's stop and cleanup still end it through `proc`.
  function startPackaged(s: Server): void {
    s.proc = execa('ip', ['netns', 'exec', s.ns, exe, 'daemon', '--config', s.configDir, '--state-dir', s.stateDir, '--max-lifetime', '900'], {
      env,
      extendEnv: false,
      stdin: 'ignore',
      stdout: { file: s.logFile, append: true },
      stderr: { file: s.logFile, append: true },
      reject: false,
    });
  }
});
