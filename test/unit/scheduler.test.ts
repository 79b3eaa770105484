import { describe, expect, it } from 'vitest';
import { SyncScheduler, type Batch, type SchedulerOptions } from '../../src/daemon/scheduler.js';
import { describeTrigger, isDriftOnly, type Operation } from '../../src/daemon/trigger.js';
import { FakeClock, settle } from './helpers/fake-clock.js';

const OPTS: SchedulerOptions = { debounceMs: 50, minIntervalMs: 250, resyncMs: 30_000, backoffMinMs: 500, backoffMaxMs: 4000, recheckMs: 300 };

/** A scheduler on a fake clock whose sync records each run (when, why) and answers from `outcome`. */
function harness(outcome: (batch: Batch, run: number) => boolean = () => true, opts: Partial<SchedulerOptions> = {}) {
  const clock = new FakeClock();
  const runs: { at: number; why: string[]; operation: Operation | undefined }[] = [];
  let inFlight = 0;
  let overlapped = false;
  const s = new SyncScheduler<string>(
    async (batch) => {
      overlapped ||= inFlight > 0;
      inFlight++;
      runs.push({ at: clock.now(), why: batch.triggers.map(describeTrigger), operation: batch.operation });
      await settle();
      inFlight--;
      const ok = outcome(batch, runs.length);
      return { ok, result: batch.operation ? `${batch.operation}#${runs.length}` : undefined };
    },
    { ...OPTS, ...opts, clock },
  );
  return { s, clock, runs, overlapped: () => overlapped };
}

describe('scheduler on a fake clock', () => {
  it('debounce: a burst of events is one run, after the debounce', async () => {
    const { s, clock, runs } = harness();
    s.request({ kind: 'kernel', source: 'ip' });
    await clock.advance(10);
    s.request({ kind: 'kernel', source: 'ip' });
    s.request({ kind: 'kernel', source: 'nft' });
    await clock.advance(30);
    expect(runs).toEqual([]);
    await clock.advance(20);
    expect(runs).toEqual([{ at: 50, why: ['kernel:ip', 'kernel:nft'], operation: undefined }]);
    await clock.advance(5000);
    expect(runs.length).toBe(1);
  });

  it('pacing: kernel events start at least minIntervalMs after the last run; a config save does not wait', async () => {
    const { s, clock, runs } = harness();
    s.request({ kind: 'kernel', source: 'ip' });
    await clock.advance(60);
    expect(runs.map((r) => r.at)).toEqual([50]);
    s.request({ kind: 'kernel', source: 'ip' });
    await clock.advance(500);
    expect(runs.map((r) => r.at)).toEqual([50, 300]);
    s.request({ kind: 'config', cause: 'saved' });
    await clock.advance(60);
    expect(runs.map((r) => r.at)).toEqual([50, 300, 610]);
  });

  it('backoff: a failing run is retried after 500, 1000, 2000, 4000, 4000 ms; success resets it', async () => {
    let failing = true;
    const { s, clock, runs } = harness(() => !failing);
    s.request({ kind: 'config', cause: 'start' }, 0);
    await clock.advance(0);
    await clock.advance(12_000);
    const at = runs.map((r) => r.at);
    expect(at).toEqual([0, 500, 1500, 3500, 7500, 11500]);
    expect(runs.slice(1).every((r) => r.why.join() === 'retry')).toBe(true);
    failing = false;
    await clock.advance(4000);
    expect(runs.length).toBe(7);
    await clock.advance(20_000);
    expect(runs.length).toBe(7);
  });

  it('a kernel event cuts a backoff short', async () => {
    const { s, clock, runs } = harness((_, n) => n > 1);
    s.request({ kind: 'resync' });
    await clock.advance(100);
    expect(runs.length).toBe(1);
    s.request({ kind: 'kernel', source: 'ip' });
    await clock.advance(300);
    // Not at 50 + 500 (the retry) but at the pace of events: 250 ms after the failed run.
    expect(runs.map((r) => r.at)).toEqual([50, 300]);
    expect(runs[1]!.why).toContain('kernel:ip');
  });

  it("a failing run's own kernel events do not cut its backoff: the same failure is retried at the backoff's pace", async () => {
    const clock = new FakeClock();
    const runs: number[] = [];
    const s: SyncScheduler = new SyncScheduler(
      async () => {
        runs.push(clock.now());
        // The run's apply changes the kernel, so the monitor reports it during the run and
        // just after it (a plan that never reads back as converged does this every time).
        s.request({ kind: 'kernel', source: 'ip' });
        clock.setTimeout(() => s.request({ kind: 'kernel', source: 'ip' }), 5);
        await settle();
        return { ok: false };
      },
      { ...OPTS, echoMs: 100, clock },
    );
    s.request({ kind: 'config', cause: 'start' }, 0);
    await clock.advance(0);
    await clock.advance(12_000);
    // 500, 1000, 2000, 4000, 4000 ms apart, as without the events; not every 250 ms.
    expect(runs).toEqual([0, 500, 1500, 3500, 7500, 11500]);
    // Someone else's change (well after the run) still cuts the backoff short.
    await clock.advance(1000);
    s.request({ kind: 'kernel', source: 'ip' });
    await clock.advance(300);
    expect(runs).toEqual([0, 500, 1500, 3500, 7500, 11500, 13050]);
    await s.close();
  });

  it('each run gets its deadline, runDeadlineMs after it starts, and the time it has been running shows', async () => {
    const clock = new FakeClock();
    const seen: (number | undefined)[] = [];
    let release: () => void = () => undefined;
    let during: number | undefined;
    const s = new SyncScheduler(
      async (batch) => {
        seen.push(batch.deadline);
        await new Promise<void>((r) => (release = r));
        return { ok: true };
      },
      { ...OPTS, runDeadlineMs: 10_000, clock },
    );
    expect(s.runningForMs()).toBeUndefined();
    s.request({ kind: 'config', cause: 'start' }, 0);
    await clock.advance(0);
    await clock.advance(1500);
    during = s.runningForMs();
    release();
    await clock.advance(0);
    expect(seen).toEqual([10_000]);
    expect(during).toBe(1500);
    expect(s.runningForMs()).toBeUndefined();
    await s.close();
  });

  it('resync: runs every resyncMs with nothing else asking', async () => {
    const { s, clock, runs } = harness(() => true, { resyncMs: 1000 });
    s.start();
    await clock.advance(3100);
    expect(runs.map((r) => [r.at, r.why.join()])).toEqual([
      [1050, 'resync'],
      [2050, 'resync'],
      [3050, 'resync'],
    ]);
    await s.close();
    await clock.advance(5000);
    expect(runs.length).toBe(3);
  });

  it('re-reads the config shortly after a save', async () => {
    const { s, clock, runs } = harness();
    s.request({ kind: 'config', cause: 'saved' });
    await clock.advance(1000);
    expect(runs.map((r) => [r.at, r.why.join()])).toEqual([
      [50, 'config'],
      [400, 'recheck'],
    ]);
  });

  it('operations run one at a time in arrival order, each caller gets its own result, pending events ride along', async () => {
    const { s, clock, runs, overlapped } = harness();
    s.request({ kind: 'kernel', source: 'ip' });
    const a = s.submit('stop');
    const b = s.submit('start');
    await clock.advance(10);
    expect(await a).toBe('stop#1');
    expect(await b).toBe('start#2');
    // Neither waited for the debounce.
    expect(runs.map((r) => [r.at, r.operation, r.why.join()])).toEqual([
      [0, 'stop', 'kernel:ip'],
      [0, 'start', ''],
    ]);
    expect(overlapped()).toBe(false);
  });

  it('50 mixed operations and kernel events through one queue: none lost, none doubled, never overlapping, the last operation decides', async () => {
    const ops: Operation[] = ['start', 'stop', 'restart', 'reload'];
    let state: 'running' | 'stopped' = 'running';
    const clock = new FakeClock();
    const done: string[] = [];
    let inFlight = 0;
    let overlapped = false;
    let repairs = 0;
    const s = new SyncScheduler<string>(
      async ({ operation, triggers }) => {
        overlapped ||= inFlight++ > 0;
        await settle();
        if (operation === 'stop') state = 'stopped';
        else if (operation) state = operation === 'reload' && state === 'stopped' ? 'stopped' : 'running';
        if (!operation && triggers.length) repairs++;
        inFlight--;
        if (operation) done.push(operation);
        return { ok: true, result: operation };
      },
      { ...OPTS, clock },
    );
    const submitted: Operation[] = [];
    const answers: Promise<string>[] = [];
    for (let k = 0; k < 50; k++) {
      const op = ops[(k * 7) % 4]!;
      submitted.push(op);
      answers.push(s.submit(op));
      s.request({ kind: 'kernel', source: k % 2 ? 'ip' : 'nft' });
      await clock.advance(k % 5);
    }
    await clock.advance(60_000);
    expect(await Promise.all(answers)).toEqual(submitted);
    expect(done).toEqual(submitted);
    expect(overlapped).toBe(false);
    // reload keeps the state; every other operation sets it: the last of those decides.
    const decisive = submitted.filter((o) => o !== 'reload').at(-1);
    expect(state).toBe(decisive === 'stop' ? 'stopped' : 'running');
    // Events that came with no operation to carry them still got a run; bounded by the pacing.
    expect(repairs).toBeLessThanOrEqual(50);
  });

  it('a sync that throws fails the operation it carried (its caller reports it) and is logged once otherwise', async () => {
    const clock = new FakeClock();
    const logged: unknown[] = [];
    const s = new SyncScheduler<string>(
      async ({ operation }) => {
        throw new Error(`boom ${operation ?? 'run'}`);
      },
      { ...OPTS, clock, onError: (err) => logged.push(err) },
    );
    const op = s.submit('reload');
    const failed = expect(op).rejects.toThrow('boom reload');
    await clock.advance(1);
    await failed;
    expect(logged).toEqual([]);
    // The failed operation counts as a failure: the event waits for the pace (250 ms), not the backoff.
    s.request({ kind: 'kernel', source: 'ip' });
    await clock.advance(400);
    expect(logged.map((e) => (e as Error).message)).toEqual(['boom run']);
    await s.close();
  });

  it('a closed scheduler refuses operations and fails the queued ones', async () => {
    const { s, clock } = harness();
    const queued = s.submit('reload');
    await s.close();
    await expect(queued).rejects.toThrow(/shutting down/);
    await expect(s.submit('start')).rejects.toThrow(/shutting down/);
    await clock.advance(1000);
  });
});

describe('triggers', () => {
  it('only kernel events and the resync count as drift', () => {
    expect(isDriftOnly([{ kind: 'kernel', source: 'ip' }, { kind: 'resync' }])).toBe(true);
    expect(isDriftOnly([{ kind: 'retry' }])).toBe(false);
    expect(isDriftOnly([{ kind: 'kernel', source: 'ip' }, { kind: 'config', cause: 'saved' }])).toBe(false);
    expect(isDriftOnly([{ kind: 'operation', operation: 'reload' }])).toBe(false);
    expect(isDriftOnly([])).toBe(false);
  });
});
