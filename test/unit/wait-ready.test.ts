import { describe, expect, it } from 'vitest';
import { readiness } from '../../src/cli/wait-ready.js';
import type { StatusReport } from '../../src/daemon/status.js';

/** A running 3-server mesh's report, as the daemon gives it; each case changes what it needs. */
function report(over: Partial<StatusReport> = {}): StatusReport {
  return {
    node: 'srv1',
    state: 'running',
    reasons: [],
    config: { dir: '/etc/vxmesh', files: ['/etc/vxmesh/peers.yaml'], loadedAt: '2026-11-23T15:00:00.000Z', lastError: null, warnings: [] },
    underlay: { device: 'eth0', address: '198.18.0.1', mtu: 1500, problem: null },
    bridge: { name: 'vxbr0', present: true, up: true, mtu: 1450, ownedByVxmesh: true },
    links: [],
    loopPrevention: { mode: 'ebtables', expected: 2, present: 2, problem: null },
    ingressFilter: { enabled: true, present: true, peers: 2, droppedPackets: 0, problem: null },
    lastReconcile: { at: '2026-11-23T15:00:01.000Z', durationMs: 90, trigger: 'start', changes: [], errors: [] },
    counters: { reconciles: 1, reconcileErrors: 0, driftRepairs: 0, configErrors: 0, changesApplied: 0 },
    ...over,
  };
}

describe('readiness', () => {
  it('is ready with the bridge up and loop prevention in place, also when degraded for another reason', () => {
    expect(readiness(report())).toMatchObject({ ready: true, summary: expect.stringMatching(/^bridge vxbr0 up, loop prevention ebtables \(2\/2 port rules\)/) });
    expect(readiness(report({ state: 'degraded', reasons: ['vxlan3 (srv3): down'] })).ready).toBe(true);
  });

  it('is not ready without the bridge, with it down, or with rules missing, and says which', () => {
    expect(readiness(report({ bridge: { name: 'vxbr0', present: false, up: false, mtu: null, ownedByVxmesh: false } }))).toEqual({ ready: false, final: false, why: 'bridge vxbr0 does not exist' });
    expect(readiness(report({ bridge: { name: 'vxbr0', present: true, up: false, mtu: 1450, ownedByVxmesh: true } }))).toMatchObject({ ready: false, why: 'bridge vxbr0 is down' });
    // No bridge yet: the missing chain is not news.
    const bare = report({ bridge: { name: 'vxbr0', present: false, up: false, mtu: null, ownedByVxmesh: false }, loopPrevention: { mode: 'ebtables', expected: 0, present: 0, problem: 'rules missing: 0 of 0 pairwise rules, no FORWARD jump' }, reasons: ['waiting for the underlay address: no peer address is assigned to a local interface'] });
    expect(readiness(bare)).toEqual({ ready: false, final: false, why: 'bridge vxbr0 does not exist; waiting for the underlay address: no peer address is assigned to a local interface' });
    const lp = { mode: 'ebtables' as const, expected: 2, present: 1, problem: 'rules missing: 1 of 2 port rules' };
    expect(readiness(report({ loopPrevention: lp, reasons: ['loop prevention: rules missing: 1 of 2 port rules', 'underlay eth0 MTU 1400 is below ...'] }))).toEqual({
      ready: false,
      final: false,
      why: 'loop prevention (ebtables): rules missing: 1 of 2 port rules; underlay eth0 MTU 1400 is below ...',
    });
  });

  it('waits for the first reconcile, counts a stopped mesh as ready, and gives up at once without any valid config', () => {
    expect(readiness(report({ lastReconcile: null }))).toMatchObject({ ready: false, why: 'first reconcile not done yet' });
    expect(readiness(report({ state: 'stopped', bridge: { name: 'vxbr0', present: false, up: false, mtu: null, ownedByVxmesh: false } })).ready).toBe(true);
    const never = report({ config: { dir: '/etc/vxmesh', files: [], loadedAt: null, lastError: ['/etc/vxmesh/peers.yaml:2:5: peers[0].id: required'], warnings: [] } });
    expect(readiness(never)).toEqual({ ready: false, final: true, why: 'no valid config: /etc/vxmesh/peers.yaml:2:5: peers[0].id: required' });
  });
});
