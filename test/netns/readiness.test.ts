import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, Lab, chainRules, forwardRules, links, peersYaml, waitForConverged, type Server } from '../helpers/lab.js';

/**
 * `vxmesh wait-ready` is the unit's ExecStartPost=: `systemctl start vxmesh` returns when it
 * does. It must return only once the bridge is up with loop prevention in place, and give up
 * within its bound, with the reason, when that cannot happen.
 */
function waitReady(s: Server, timeoutS: number) {
  return execa('ip', ['netns', 'exec', s.ns, process.execPath, CLI, 'wait-ready', '--timeout', String(timeoutS), '--state-dir', s.stateDir], { reject: false, timeout: (timeoutS + 30) * 1000 });
}

async function bridgeUp(s: Server): Promise<boolean> {
  return (await links(s.ns)).some((l) => l.ifname === 'vxbr0' && l.flags.includes('UP'));
}

describe('wait-ready (the unit\'s readiness)', () => {
  const lab = new Lab();
  beforeAll(async () => {
    await lab.init();
    for (let i = 1; i <= 3; i++) await lab.addServer(i);
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  it('waits for a daemon that is not there yet and returns only once the bridge and the chain exist', async () => {
    const [s1, s2, s3] = lab.servers as [Server, Server, Server];
    for (const s of [s1, s2, s3]) lab.writeConfig(s, peersYaml(lab.servers));
    expect(await bridgeUp(s1)).toBe(false);
    // Started before the daemon, as systemd would if the API came up late: it keeps polling.
    const started = Date.now();
    const waiting = waitReady(s1, 60);
    let returned = false;
    void waiting.finally(() => (returned = true));
    await new Promise((r) => setTimeout(r, 1000));
    expect(returned, 'wait-ready returned before the daemon ran').toBe(false);
    lab.startDaemon(s1);
    const r = await waiting;
    const took = Date.now() - started;
    // Read the kernel the moment it returned: the bridge is up and the chain with its gate and
    // port rules is in place (2 remotes: the gate plus 2 DROP rules), jumped to from FORWARD.
    const [up, chain, forward] = await Promise.all([bridgeUp(s1), chainRules(s1.ns), forwardRules(s1.ns)]);
    console.log(`wait-ready returned after ${took} ms: ${r.stdout.trim()}`);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(up).toBe(true);
    expect(chain[0]).toBe('-o ! vxlan+ -j RETURN');
    expect(chain).toContain('-i vxlan2 -o vxlan+ -j DROP');
    expect(chain).toContain('-i vxlan3 -o vxlan+ -j DROP');
    expect(forward).toContain('-A FORWARD -i vxlan+ -j VXMESH');
    expect(r.stdout).toMatch(/^vxmesh ready after [\d.]+ s: bridge vxbr0 up, loop prevention ebtables \(2\/2 port rules\)/);
    await waitForConverged(s1, 2);
  });

  it('with isolated ports: ready once every port is isolated', async () => {
    const s2 = lab.servers[1]!;
    lab.writeConfig(s2, peersYaml(lab.servers, { loop_prevention: 'isolated' }));
    lab.startDaemon(s2);
    const r = await waitReady(s2, 60);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/loop prevention isolated \(2\/2 ports isolated\)/);
    const ports = (await links(s2.ns)).filter((l) => l.linkinfo?.info_kind === 'vxlan');
    expect(ports.length).toBe(2);
    for (const p of ports) expect(p.linkinfo?.info_slave_data?.isolated, p.ifname).toBe(true);
  });

  it('gives up within its bound, with the reason, when this host is not in the peers file', async () => {
    const s3 = lab.servers[2]!;
    // The peers file lists other addresses only: the daemon waits for one of them to appear here.
    lab.writeConfig(s3, peersYaml([{ index: 1, address: '198.18.0.1' }, { index: 2, address: '198.18.0.2' }]));
    lab.startDaemon(s3);
    const started = Date.now();
    const r = await waitReady(s3, 3);
    const took = Date.now() - started;
    console.log(`wait-ready --timeout 3 gave up after ${took} ms: ${r.stderr.trim()}`);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^vxmesh not ready after [\d.]+ s: bridge vxbr0 does not exist/);
    expect(r.stderr).toMatch(/no local address|not a peer|address/);
    expect(took).toBeGreaterThanOrEqual(3000);
    // Bounded: the timeout plus at most one status request and process start, with room for a loaded machine.
    expect(took).toBeLessThan(3000 + 15_000);
    expect(await bridgeUp(s3)).toBe(false);
  });

  it('fails at once when no valid config can be loaded, naming file and line', async () => {
    const s3 = lab.servers[2]!;
    await lab.stopDaemon(s3);
    lab.writeConfig(s3, 'peers:\n  - { name: a, id: 1, address: not-an-ip }\n');
    lab.startDaemon(s3);
    const started = Date.now();
    const r = await waitReady(s3, 60);
    const took = Date.now() - started;
    console.log(`wait-ready on an invalid config failed after ${took} ms`);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/no valid config: .*peers\.yaml:2:\d+/);
    expect(took).toBeLessThan(30_000);
  });

  it('says so when no daemon answers', async () => {
    const s3 = lab.servers[2]!;
    await lab.stopDaemon(s3);
    const r = await waitReady(s3, 1);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/did not answer within [\d.]+ s: vxmesh daemon is not running/);
  });
});
