import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { reconcile, type Goal } from '../../src/daemon/reconcile.js';
import type { Config } from '../../src/model/types.js';
import { StrictRunner } from './helpers/strict-runner.js';
import { NFT_BACKEND, PLAIN_BACKEND } from '../../src/kernel/ebtables-backend.js';
import type { EbtablesChoice } from '../../src/model/ebtables.js';

/** The plain names, as a host whose `ebtables` works would have them. */
const PLAIN: EbtablesChoice = { backend: PLAIN_BACKEND, problem: undefined };

/** Captured from a namespace: see parse.test.ts. */
const fixture = (name: string) => readFileSync(new URL(`../fixtures/kernel/${name}`, import.meta.url), 'utf8');
const capturedLinks = JSON.parse(fixture('ip-addr.json')) as { ifname: string }[];
/** The host with the mesh of peers a, b, c built for a (the extra legacy device and container left out). */
const CONVERGED_IP = JSON.stringify(capturedLinks.filter((l) => !['vxlanv7', 'ct0', 'ct0p'].includes(l.ifname)));
/** The same host before vxmesh: loopback and the underlay only. */
const EMPTY_IP = JSON.stringify(capturedLinks.filter((l) => ['lo', 'eth0', 'eth0p'].includes(l.ifname)));
/** The host after the first pass: ports attached and isolated, still down. */
const ATTACHED_DOWN_IP = JSON.stringify(
  (JSON.parse(CONVERGED_IP) as { ifname: string; flags: string[] }[]).map((l) => (l.ifname.startsWith('vxlan') ? { ...l, flags: l.flags.filter((f) => f !== 'UP') } : l)),
);
const EMPTY_EBTABLES = '*filter\n:INPUT ACCEPT\n:FORWARD ACCEPT\n:OUTPUT ACCEPT\n';
const NO_TABLE = 'Error: No such file or directory\nlist table inet vxmesh\n';

function config(): Config {
  // Link probing off: the probe address's family follows the host's IPv6 (read from /proc, not
  // through the runner); plan.test.ts and health.test.ts cover it with the IPv6 state given.
  const r = parseConfig([{ path: 'peers.yaml', text: 'mesh: { probe: { enabled: false } }\npeers:\n  - { name: a, id: 1, address: 198.18.0.1 }\n  - { name: b, id: 2, address: 198.18.0.2 }\n  - { name: c, id: 3, address: 198.18.0.3 }\n' }]);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.config;
}
const GOAL: Goal = { kind: 'mesh', config: config(), node: undefined };

function observeEmpty(r: StrictRunner): StrictRunner {
  return r.expect('ip -j -d -s addr show', { stdout: EMPTY_IP }).expect('ebtables-save -t filter', { stdout: EMPTY_EBTABLES }).expect('nft -j list table inet vxmesh', { fail: NO_TABLE });
}

function observeConverged(r: StrictRunner): StrictRunner {
  return r.expect('ip -j -d -s addr show', { stdout: CONVERGED_IP }).expect('ebtables-save -t filter', { stdout: fixture('ebtables-save.txt') }).expect('nft -j list table inet vxmesh', { stdout: fixture('nft-table.json') });
}

const has = (...parts: string[]) => (input: string | undefined) => parts.every((p) => input?.includes(p) ?? false);

describe('reconcile with a strict fake runner', () => {
  it('on a converged host it reads the kernel once and runs nothing', async () => {
    const runner = observeConverged(new StrictRunner());
    const out = await reconcile(runner, GOAL, PLAIN);
    expect(runner.verify()).toEqual([]);
    expect(out.errors).toEqual([]);
    expect(out.changes).toEqual([]);
    expect(out.observed?.links.has('vxlan2')).toBe(true);
  });

  it('on an empty host it runs the plan steps in order, reads back the isolated ports, brings them up, and verifies', async () => {
    const runner = observeEmpty(new StrictRunner())
      .expect('nft -f -', { input: has('table inet vxmesh {', 'elements = { 198.18.0.2, 198.18.0.3 }') })
      .expect('ip -force -batch -', { input: has('link add name vxbr0 type bridge', 'link add name vxlan2 mtu 1450 type vxlan id 100002 remote 198.18.0.2') })
      .expect('ebtables-restore --noflush', { input: has(':VXMESH RETURN', '-A VXMESH -i vxlan2 -o vxlan+ -j DROP') })
      .expect('ebtables -t filter -I FORWARD 1 -i vxlan+ -j VXMESH')
      .expect('ip -force -batch -', { input: (i) => has('link set dev vxlan2 master vxbr0', 'link set dev vxlan3 type bridge_slave isolated on')(i) && !/ up$/m.test(i ?? '') });
    runner.expect('ip -j -d -s addr show', { stdout: ATTACHED_DOWN_IP }).expect('ebtables-save -t filter', { stdout: fixture('ebtables-save.txt') }).expect('nft -j list table inet vxmesh', { stdout: fixture('nft-table.json') });
    runner.expect('ip -force -batch -', { input: (i) => i === 'link set dev vxlan2 up\nlink set dev vxlan3 up\n' });
    observeConverged(runner);
    const out = await reconcile(runner, GOAL, PLAIN);
    expect(runner.verify()).toEqual([]);
    expect(out.errors).toEqual([]);
    expect(out.changes).toContain('create bridge vxbr0 (mtu 1450)');
    expect(out.changes).toContain('attach vxlan3 to vxbr0 (isolated)');
    expect(out.changes).toContain('bring vxlan3 up');
  });

  it('when loop prevention cannot be written no port is attached, the error is returned and nothing counts as applied', async () => {
    const runner = observeEmpty(new StrictRunner())
      .expect('nft -f -')
      .expect('ip -force -batch -')
      .expect('ebtables-restore --noflush', { fail: "ebtables-restore: line 2: Chain 'VXMESH' could not be created" })
      .expect('ebtables -t filter -I FORWARD 1 -i vxlan+ -j VXMESH');
    // No ports batch: the strict runner fails the test if apply runs one.
    runner.expect('ip -j -d -s addr show', { stdout: EMPTY_IP }).expect('ebtables-save -t filter', { stdout: EMPTY_EBTABLES }).expect('nft -j list table inet vxmesh', { fail: NO_TABLE });
    const out = await reconcile(runner, GOAL, PLAIN);
    expect(runner.verify()).toEqual([]);
    expect(out.errors.map((e) => e.message)).toEqual(["ebtables-restore --noflush failed (exit 1): ebtables-restore: line 2: Chain 'VXMESH' could not be created"]);
    expect(out.changes).toEqual([]);
    expect(out.planned).toContain('attach vxlan2 to vxbr0 (isolated)');
  });

  it('runs and reads ebtables through the backend chosen at start', async () => {
    const runner = new StrictRunner()
      .expect('ip -j -d -s addr show', { stdout: EMPTY_IP })
      .expect('ebtables-nft-save -t filter', { stdout: EMPTY_EBTABLES })
      .expect('nft -j list table inet vxmesh', { fail: NO_TABLE })
      .expect('nft -f -')
      .expect('ip -force -batch -')
      .expect('ebtables-nft-restore --noflush', { input: has(':VXMESH RETURN') })
      .expect('ebtables-nft -t filter -I FORWARD 1 -i vxlan+ -j VXMESH')
      .expect('ip -force -batch -', { input: has('link set dev vxlan2 master vxbr0') })
      .expect('ip -j -d -s addr show', { stdout: CONVERGED_IP })
      .expect('ebtables-nft-save -t filter', { stdout: fixture('ebtables-save.txt') })
      .expect('nft -j list table inet vxmesh', { stdout: fixture('nft-table.json') });
    const out = await reconcile(runner, GOAL, { backend: NFT_BACKEND, problem: undefined });
    expect(runner.verify()).toEqual([]);
    expect(out.errors).toEqual([]);
  });

  it('without a working ebtables it runs no ebtables command and attaches no port', async () => {
    const none: EbtablesChoice = { backend: undefined, problem: 'no working ebtables (...): install iptables' };
    const runner = new StrictRunner()
      .expect('ip -j -d -s addr show', { stdout: EMPTY_IP })
      .expect('nft -j list table inet vxmesh', { fail: NO_TABLE })
      .expect('nft -f -')
      .expect('ip -force -batch -', { input: has('link add name vxlan2') })
      .expect('ip -j -d -s addr show', { stdout: EMPTY_IP })
      .expect('nft -j list table inet vxmesh', { fail: NO_TABLE });
    const out = await reconcile(runner, GOAL, none);
    expect(runner.verify()).toEqual([]);
    expect(out.blocked).toEqual(['no port joins vxbr0: loop prevention cannot be put in place without a working ebtables']);
    expect(out.observed?.ebtables).toMatchObject({ available: false, error: none.problem });
  });

  it('a strict runner fails on a call nobody expected, and on an expected call that never came', async () => {
    const runner = new StrictRunner().expect('ip -j -d -s addr show', { stdout: '[]' });
    await expect(runner.run('ebtables-save', ['-t', 'filter'])).rejects.toThrow(/unexpected call/);
    expect(runner.verify()).toEqual(['unexpected call: ebtables-save -t filter (expected ip -j -d -s addr show)']);
    expect(new StrictRunner().expect('nft -f -').verify()).toEqual(['expected call never made: nft -f -']);
  });
});
