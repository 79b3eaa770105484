import { describe, expect, it } from 'vitest';
import { applyPlan } from '../../src/kernel/apply.js';
import { CommandError, type Runner } from '../../src/kernel/runner.js';
import { renderChainRestore, type Plan } from '../../src/plan/plan.js';
import { NFT_BACKEND, PLAIN_BACKEND } from '../../src/kernel/ebtables-backend.js';

/** A stand-in for the runner: records every call, fails the ones named, runs nothing. */
function fakeRunner(failing: (file: string, args: string[]) => boolean) {
  const calls: string[] = [];
  const runner: Runner = {
    run: async (file: string, args: string[]) => {
      calls.push([file, ...args].join(' '));
      if (failing(file, args)) throw new CommandError([file, ...args].join(' '), 2, 'RTNETLINK answers: Invalid argument', undefined);
      return '';
    },
  };
  return { runner, calls };
}

const BATCH = ['-force', '-batch', '-'];
const PLAN: Plan = {
  steps: [
    { tool: 'nft', args: ['-f', '-'], input: 'table inet vxmesh\n', phase: 'ingress', guardsLoops: false, needsLoopSafety: false },
    { tool: 'ip', args: BATCH, input: 'link set dev vxlan2 mtu 1450\n', phase: 'links', guardsLoops: false, needsLoopSafety: false },
    { tool: 'ebtables-restore', args: ['--noflush'], input: renderChainRestore(['vxlan2', 'vxlan3']), phase: 'loop', guardsLoops: true, needsLoopSafety: false },
    { tool: 'ebtables', args: ['-t', 'filter', '-I', 'FORWARD', '1', '-i', 'vxlan+', '-j', 'VXMESH'], phase: 'loop', guardsLoops: true, needsLoopSafety: false },
    { tool: 'ip', args: BATCH, input: 'link set dev vxlan3 master vxbr0\nlink set dev vxlan3 up\n', phase: 'ports', guardsLoops: false, needsLoopSafety: true },
  ],
  changes: [],
  blocked: [],
};

describe('applyPlan', () => {
  it('runs every phase in order, batches with -force', async () => {
    const { runner, calls } = fakeRunner(() => false);
    expect(await applyPlan(runner, PLAN, PLAIN_BACKEND)).toEqual([]);
    expect(calls).toEqual(['nft -f -', 'ip -force -batch -', 'ebtables-restore --noflush', 'ebtables -t filter -I FORWARD 1 -i vxlan+ -j VXMESH', 'ip -force -batch -']);
  });

  it('a refused ip line does not stop loop prevention from being written, and is reported', async () => {
    let ipCalls = 0;
    const { runner, calls } = fakeRunner((file) => file === 'ip' && ipCalls++ === 0);
    const errors = await applyPlan(runner, PLAN, PLAIN_BACKEND);
    expect(errors.map((e) => e.message)).toEqual(['ip -force -batch - failed (exit 2): RTNETLINK answers: Invalid argument']);
    expect(calls).toContain('ebtables-restore --noflush');
    expect(calls.filter((c) => c.startsWith('ip ')).length).toBe(2);
  });

  it('no port joins the bridge when loop prevention could not be written', async () => {
    for (const failing of ['ebtables-restore', 'ebtables']) {
      const { runner, calls } = fakeRunner((file) => file === failing);
      const errors = await applyPlan(runner, PLAN, PLAIN_BACKEND);
      expect(errors.length).toBe(1);
      expect(calls.filter((c) => c.startsWith('ip ')).length, failing).toBe(1);
    }
  });

  it('runs the ebtables commands of the chosen backend', async () => {
    const { runner, calls } = fakeRunner(() => false);
    expect(await applyPlan(runner, PLAN, NFT_BACKEND)).toEqual([]);
    expect(calls).toEqual(['nft -f -', 'ip -force -batch -', 'ebtables-nft-restore --noflush', 'ebtables-nft -t filter -I FORWARD 1 -i vxlan+ -j VXMESH', 'ip -force -batch -']);
  });

  it('without a backend no port joins the bridge and no ebtables command runs', async () => {
    const { runner, calls } = fakeRunner(() => false);
    const errors = await applyPlan(runner, PLAN, undefined);
    expect(errors.map((e) => e.message)).toEqual(['ebtables work planned but no working ebtables backend', 'ebtables work planned but no working ebtables backend']);
    expect(calls).toEqual(['nft -f -', 'ip -force -batch -']);
  });

  it('a failing ingress filter (nft missing) holds nothing back', async () => {
    const { runner, calls } = fakeRunner((file) => file === 'nft');
    const errors = await applyPlan(runner, PLAN, PLAIN_BACKEND);
    expect(errors.length).toBe(1);
    expect(calls.length).toBe(5);
  });
});
