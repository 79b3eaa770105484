import { execa, execaSync } from 'execa';
import { rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daemonAlive, flushAndTimeRepair, quietTwoServerMesh } from '../helpers/faults.js';
import { CLI, EVENT_DRIVEN_MS, Lab, peersYaml, statusJson, waitFor, waitForConverged, type Server } from '../helpers/lab.js';

async function lastError(s: Server): Promise<string> {
  return ((await statusJson(s)).config.lastError ?? []).join('\n');
}

const BAD_ALIAS = 'peers:\n  - { name: srv9, id: 9, address: 198.18.0.9, dev: *nope }\n';
const MANY_USES = `x: &a 1\n${Array.from({ length: 101 }, (_, k) => `k${k}: *a`).join('\n')}\n`;
const LAUGHS = 'a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n';

describe('config faults on a running daemon (2 servers)', () => {
  const lab = new Lab();
  let s1: Server;
  let s2: Server;
  beforeAll(async () => {
    [s1, s2] = await quietTwoServerMesh(lab);
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  it('a drop-in with a YAML alias error: the last good config is still reconciled, status shows the error with its position', async () => {
    const cases: [string, string, RegExp][] = [
      ['unknown alias', BAD_ALIAS, /peers\.d\/bad\.yaml:2:52: YAML: unknown alias \*nope/],
      ['101 uses of one anchor', MANY_USES, /peers\.d\/bad\.yaml:102:7: YAML: anchor &a is used more than 100 times/],
      ['billion laughs', LAUGHS, /peers\.d\/bad\.yaml:4:\d+: YAML: aliases expand too much/],
    ];
    for (const [what, text, error] of cases) {
      lab.writeConfig(s1, text, 'peers.d/bad.yaml');
      await waitFor(`status shows the ${what} error`, async () => error.test(await lastError(s1)) || (await lastError(s1)), 10_000);
      await flushAndTimeRepair(s1, `drop-in with ${what}`, EVENT_DRIVEN_MS);
      const st = await statusJson(s1);
      expect(st.state).toBe('degraded');
      expect(st.config.lastError.join('\n')).toMatch(error);
      expect(st.links.map((l: { device: string; up: boolean }) => [l.device, l.up])).toEqual([['vxlan2', true]]);
    }
    rmSync(join(s1.configDir, 'peers.d', 'bad.yaml'));
    await waitFor('config error cleared', async () => (await statusJson(s1)).config.lastError === null, 10_000);
    expect((await statusJson(s1)).state).toBe('running');
  });

  it('at start, the daemon does not exit on an alias error: it runs, and status says why nothing is applied', async () => {
    await lab.stopDaemon(s2);
    lab.writeConfig(s2, BAD_ALIAS, 'peers.d/bad.yaml');
    lab.startDaemon(s2);
    await waitFor('s2 status answers with the config error', async () => /bad\.yaml:2:52: YAML: unknown alias/.test(await lastError(s2)) || (await lastError(s2)), 15_000);
    await new Promise((r) => setTimeout(r, 1000));
    expect(daemonAlive(s2)).toBe(true);
    rmSync(join(s2.configDir, 'peers.d', 'bad.yaml'));
    await waitFor('s2 running once the drop-in is gone', async () => (await statusJson(s2)).state === 'running', 15_000);
  });

  it('a FIFO in peers.d: reload answers at once naming the file, and repair goes on', async () => {
    const fifo = join(s1.configDir, 'peers.d', 'pipe.yaml');
    execaSync('mkfifo', [fifo]);
    try {
      const started = Date.now();
      const r = await execa('ip', ['netns', 'exec', s1.ns, process.execPath, CLI, 'reload', '--state-dir', s1.stateDir], { reject: false, timeout: 20_000 });
      console.info(`reload with a FIFO in peers.d answered in ${Date.now() - started} ms (exit ${r.exitCode})`);
      expect(r.timedOut).toBe(false);
      expect(r.exitCode).toBe(1);
      expect(r.stdout + r.stderr).toMatch(/pipe\.yaml:1:1: is a FIFO, not a regular file/);
      expect(await lastError(s1)).toMatch(/pipe\.yaml:1:1: is a FIFO/);
      await flushAndTimeRepair(s1, 'FIFO in peers.d', EVENT_DRIVEN_MS);
    } finally {
      rmSync(fifo, { force: true });
    }
    await waitFor('config error cleared', async () => (await statusJson(s1)).config.lastError === null, 10_000);
  });

  it('a symlink to a system file in peers.d: status and log name the file but do not list its lines', async () => {
    const system = join(lab.dir, 'login-defs-like');
    // Shaped like /etc/login.defs: the parser's own message would quote these lines.
    writeFileSync(system, '#\n# comment\n#\nMAIL_DIR        /var/mail\n#\nFAILLOG_ENAB\t\tyes\nENCRYPT_METHOD SHA512\nUMASK\t\t022\n');
    const logBefore = lab.log(s1).length;
    symlinkSync(system, join(s1.configDir, 'peers.d', 'sys.yaml'));
    try {
      await waitFor('status names sys.yaml', async () => /sys\.yaml:\d+:\d+: /.test(await lastError(s1)) || (await lastError(s1)), 10_000);
      const st = JSON.stringify(await statusJson(s1));
      const log = lab.log(s1).slice(logBefore);
      console.info(`status errors for the symlinked file: ${await lastError(s1)}`);
      for (const leak of ['/var/mail', 'FAILLOG', 'SHA512', 'UMASK']) {
        expect(st).not.toContain(leak);
        expect(log).not.toContain(leak);
      }
    } finally {
      rmSync(join(s1.configDir, 'peers.d', 'sys.yaml'), { force: true });
    }
    await waitFor('config error cleared', async () => (await statusJson(s1)).config.lastError === null, 10_000);
  });

  it('mesh.port 53 shows a warning in status saying why', async () => {
    for (const s of [s1, s2]) lab.writeConfig(s, peersYaml(lab.servers, { port: 53 }));
    const why = 'mesh.port 53 is the UDP port of DNS: the ingress filter drops UDP to port 53 from every host that is not a peer';
    await waitFor('s1 status warns about port 53', async () => ((await statusJson(s1)).config.warnings as string[]).some((w) => w.startsWith(why)) || JSON.stringify((await statusJson(s1)).config.warnings), 10_000);
    const table = await execa('ip', ['netns', 'exec', s1.ns, process.execPath, CLI, 'status', '--state-dir', s1.stateDir], { reject: false, timeout: 20_000 });
    expect(table.stdout).toContain(`warning: ${why}`);
    for (const s of [s1, s2]) lab.writeConfig(s, peersYaml(lab.servers));
    await waitFor('s1 back on 4789 without the warning', async () => (await statusJson(s1)).config.warnings.length === 0, 10_000);
    await waitForConverged(s1, 1);
  });
});
