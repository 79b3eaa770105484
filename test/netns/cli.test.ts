import { execa } from 'execa';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, Lab, peersYaml, statusJson, waitFor, waitForConverged, type Server } from '../helpers/lab.js';
import { VERSION } from '../../src/version.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TRACER = join(ROOT, 'test/fixtures/trace-imports.mjs');

async function cli(s: Server | undefined, args: string[], opts: { env?: Record<string, string>; nodeArgs?: string[] } = {}) {
  // The verbs reach the daemon through the socket in its state dir.
  const cmd = [process.execPath, ...(opts.nodeArgs ?? []), CLI, ...args, ...(s ? ['--state-dir', s.stateDir] : [])];
  const r = s ? await execa('ip', ['netns', 'exec', s.ns, ...cmd], { reject: false, env: opts.env, timeout: 60_000 }) : await execa(cmd[0]!, cmd.slice(1), { reject: false, env: opts.env, timeout: 60_000 });
  return { code: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

describe('vxmesh CLI: version, exit codes, check --json, what each verb loads', () => {
  const lab = new Lab();
  let up: Server, lonely: Server;
  beforeAll(async () => {
    await lab.init();
    up = await lab.addServer(1);
    await lab.addServer(2);
    lonely = await lab.addServer(3, { withAddress: false });
    for (const s of lab.servers) lab.writeConfig(s, peersYaml(lab.servers.slice(0, 2)));
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  it('--version, -V and version print the version', async () => {
    for (const flag of ['--version', '-V', 'version']) {
      const r = await cli(undefined, [flag]);
      expect(r.code, flag).toBe(0);
      expect(r.stdout).toBe(`vxmesh ${VERSION}`); // execa strips the final newline
    }
  });

  it('exit 3 when no daemon runs (status, status --json, start, stop, reload), distinct from usage (2)', async () => {
    for (const args of [['status'], ['status', '--json'], ['start'], ['stop'], ['reload']]) {
      const r = await cli(up, [...args, '--state-dir', up.stateDir]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(3);
      expect(r.stderr).toContain(`vxmesh daemon is not running (no API socket at ${join(up.stateDir, 'api.sock')}`);
    }
    expect((await cli(up, ['status', '--bogus'])).code).toBe(2);
    expect((await cli(up, ['frobnicate'])).code).toBe(2);
  });

  it('exit 0 when running, 1 when degraded; /status and /metrics carry the version', async () => {
    for (const s of lab.servers) lab.startDaemon(s);
    for (const s of lab.servers.slice(0, 2)) await waitForConverged(s, 1);
    const running = await cli(up, ['status']);
    expect(running.code, running.stdout).toBe(0);
    expect(running.stdout).toMatch(new RegExp(`^Node: +srv1 \\(vxmesh ${VERSION.replace(/\./g, '\\.')}\\)$`, 'm'));
    expect((await statusJson(up)).version).toBe(VERSION);
    // Node's fetch inside the namespace: a stock Debian has no curl.
    const fetchMetrics = "fetch('http://127.0.0.1:7789/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))";
    const metrics = await execa('ip', ['netns', 'exec', up.ns, process.execPath, '-e', fetchMetrics], { reject: false });
    expect(String(metrics.stdout)).toContain(`vxmesh_build_info{version="${VERSION}",nodejs="${process.version}"} 1`);

    // srv3 has no address in the config: its daemon runs, its mesh waits (degraded).
    await waitFor('the lonely daemon to answer', async () => (await cli(lonely, ['status'])).code !== 3);
    for (const args of [['status'], ['status', '--json']]) {
      const r = await cli(lonely, args);
      expect(r.code, args.join(' ')).toBe(1);
    }
  });

  it('reload with a broken config exits 1 and the mesh keeps running', async () => {
    writeFileSync(join(up.configDir, 'peers.d', '50-broken.yaml'), 'peers: [ {name: x, id: 1, address: 198.18.0.99} ]\n');
    try {
      const r = await cli(up, ['reload', '--state-dir', up.stateDir]);
      expect(r.code, r.stdout).toBe(1);
      expect(r.stdout).toContain('reload FAILED');
      expect(r.stdout).toContain('50-broken.yaml:1:');
      await waitForConverged(up, 1, 1000);
    } finally {
      rmSync(join(up.configDir, 'peers.d', '50-broken.yaml'), { force: true });
    }
  });

  it('check --json: the config summary, or every error with file, line and column', async () => {
    const good = await cli(up, ['check', up.configDir, '--json']);
    expect(good.code).toBe(0);
    const g = JSON.parse(good.stdout);
    expect(g).toMatchObject({ ok: true, errors: [], config: { peers: 2, bridge: 'vxbr0', mtu: 1450, port: 4789, loopPrevention: 'ebtables', ingressFilter: true }, host: { ebtables: { backend: { name: 'nft' }, problem: null } } });

    const bad = await cli(up, ['check', join(ROOT, 'test/fixtures/bad-config'), '--json']);
    expect(bad.code).toBe(1);
    const b = JSON.parse(bad.stdout);
    expect(b.ok).toBe(false);
    expect(b.errors.length).toBeGreaterThan(0);
    expect(b.errors[0]).toMatchObject({ file: expect.stringContaining('bad-config/peers.yaml'), line: 3, col: expect.any(Number), field: expect.stringContaining('id'), text: expect.stringMatching(/peers\.yaml:3:\d+: /) });
  });

  it('status and check do not load the API server, the daemon or the planner; plan does', async () => {
    const traced = async (args: string[]) => {
      const file = join(lab.dir, `trace-${args[0]}.txt`);
      writeFileSync(file, '');
      await cli(up, args, { env: { VXMESH_TRACE_IMPORTS: file }, nodeArgs: ['--import', TRACER] });
      return readFileSync(file, 'utf8').split('\n').filter(Boolean);
    };
    const status = await traced(['status']);
    expect(status.some((u) => u.endsWith('/dist/cli/status-command.js'))).toBe(true);
    expect(status.filter((u) => u.includes('/node_modules/'))).toEqual([]);
    expect(status.filter((u) => /\/dist\/(api\/server|daemon\/daemon|plan|kernel|config)\b/.test(u))).toEqual([]);

    const check = await traced(['check', up.configDir]);
    expect(check.filter((u) => /node_modules\/(fastify|chokidar)\/|\/dist\/(api\/server|daemon\/daemon|plan)\b/.test(u))).toEqual([]);

    // The tracer sees what is loaded: plan does load the planner.
    const plan = await traced(['plan', '--config', up.configDir]);
    expect(plan.some((u) => u.endsWith('/dist/plan/plan.js'))).toBe(true);
  });
});

describe('journal-native logs', () => {
  const lab = new Lab();
  beforeAll(async () => {
    await lab.init();
    for (let i = 1; i <= 2; i++) {
      const s = await lab.addServer(i);
      // A broken config (error) and the `vxmesh stop` marker (warning) make the start log every level.
      writeFileSync(join(s.configDir, 'peers.yaml'), 'peers:\n  - { name: a, id: 1, address: 198.18.0.1 }\n  - { name: b, id: 1, address: 198.18.0.2 }\n');
      mkdirSync(s.stateDir, { recursive: true });
      writeFileSync(join(s.stateDir, 'stopped'), 'stopped by the test\n');
      writeFileSync(s.logFile, '');
    }
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  it('with JOURNAL_STREAM naming its stdout each line carries its syslog priority; otherwise plain JSON', async () => {
    const [journal, plain] = lab.servers as [Server, Server];
    const st = statSync(journal.logFile, { bigint: true });
    lab.startDaemon(journal, [], { JOURNAL_STREAM: `${st.dev}:${st.ino}`, VXMESH_LOG_LEVEL: 'debug' });
    // Inherited from a parent whose stdout was the journal, but this stdout is a file: no prefixes.
    lab.startDaemon(plain, [], { JOURNAL_STREAM: `${st.dev}:${st.ino}`, VXMESH_LOG_LEVEL: 'debug' });
    for (const s of lab.servers) {
      await waitFor(`${s.ns} daemon running`, async () => lab.log(s).includes('vxmesh daemon running'));
      await statusJson(s); // a GET: one debug line
    }
    await waitFor('the debug line of the status request', async () => lab.log(journal).includes('"msg":"API request"'));

    const lines = lab.log(journal).split('\n').filter(Boolean);
    console.info(lines.slice(0, 6).join('\n'));
    for (const l of lines) expect(l, l).toMatch(/^<[2-7]>\{"level":/);
    const prefixOf = (msg: string) => lines.find((l) => l.includes(`"msg":"${msg}`))?.slice(0, 3);
    expect(prefixOf('config invalid; nothing applied')).toBe('<3>');
    expect(prefixOf('mesh was stopped with `vxmesh stop`')).toBe('<4>');
    expect(prefixOf('vxmesh daemon running')).toBe('<6>');
    expect(prefixOf('API request')).toBe('<7>');

    await waitFor('the debug line on the plain daemon', async () => lab.log(plain).includes('"msg":"API request"'));
    const plainLines = lab.log(plain).split('\n').filter(Boolean);
    for (const l of plainLines) expect(() => JSON.parse(l), l).not.toThrow();
    expect(plainLines.some((l) => l.includes('"level":50'))).toBe(true);
  });
});
