import { systemClock, type Clock } from './clock.js';
import type { Operation, Trigger } from './trigger.js';

/**
 * The one queue every trigger goes through, running one sync function with bounded frequency
 * (after kube-proxy's runner): bursts of triggers within `debounceMs` merge into one run, runs
 * never overlap, runs caused by kernel events start at least `minIntervalMs` apart, a periodic
 * resync runs even when nothing asked, and failures retry with exponential backoff. A real
 * trigger (config saved, kernel event, operation) does not wait out a backoff: drift must be
 * repaired in well under a second even while something else fails. Operations run one per
 * run, in the order they came, and their callers get that run's result; other triggers
 * pending at that moment ride along (an operation's reconcile is a full one). Kernel events
 * that arrive while a run is under way, or within `echoMs` of its end, are taken as that run's
 * own echo: after a failed run they wait out the backoff like the retry they join, so a plan
 * that fails the same way every time is retried at the backoff's pace, not at every event its
 * own apply caused. A later kernel event (someone else's change) still cuts the backoff.
 */
export interface SchedulerOptions {
  debounceMs: number;
  minIntervalMs: number;
  resyncMs: number;
  backoffMinMs: number;
  backoffMaxMs: number;
  /**
   * A save read halfway (an in-place write caught between truncate and write) may get no
   * further file event: after a run for a save, the files are read once more this much later.
   */
  recheckMs?: number;
  /** How long after a run a kernel event still counts as that run's own echo (default 0: only during the run). */
  echoMs?: number;
  /** Each run's deadline, given to the sync function as `Batch.deadline`: it must end its commands by then. */
  runDeadlineMs?: number;
  /** Called when the sync function throws on a run without an operation (it should return { ok: false } instead). */
  onError?: (err: unknown) => void;
  clock?: Clock;
}

/** What one run is for. */
export interface Batch {
  triggers: Trigger[];
  operation: Operation | undefined;
  /** Clock time by which the run must be over (runDeadlineMs after it started), if there is one. */
  deadline: number | undefined;
}

export type SyncFn<R> = (batch: Batch) => Promise<{ ok: boolean; result?: R }>;

interface QueuedOperation<R> {
  operation: Operation;
  resolve: (r: R) => void;
  reject: (err: unknown) => void;
}

/** One entry per kind of trigger: ten kernel events in a burst are one reason to run. */
function sameTrigger(a: Trigger, b: Trigger): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class SyncScheduler<R = void> {
  private pending: Trigger[] = [];
  private operations: QueuedOperation<R>[] = [];
  private timer: unknown;
  private timerIsRetry = false;
  private resyncTimer: unknown;
  private recheckTimer: unknown;
  private running: Promise<void> | undefined;
  private lastStart = -Infinity;
  private lastEnd = -Infinity;
  /** Pending kernel triggers that only the last run's own changes caused (see the class comment). */
  private echoes = new Set<string>();
  /** When the run under way started, for status. */
  private runSince: number | undefined;
  private failures = 0;
  private closed = false;
  /** What the last run was for and whether it succeeded: afterRun decides the next from them. */
  private lastOk = true;
  private lastTriggers: Trigger[] = [];
  private readonly clock: Clock;

  constructor(
    private readonly sync: SyncFn<R>,
    private readonly opts: SchedulerOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
  }

  start(): void {
    this.armResync();
  }

  /** Stop taking triggers; queued operations fail; resolves when a run under way has ended. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of [this.timer, this.resyncTimer, this.recheckTimer]) if (t !== undefined) this.clock.clearTimeout(t);
    this.timer = undefined;
    for (const op of this.operations.splice(0)) op.reject(new Error('the daemon is shutting down'));
    await this.running;
  }

  /** Ask for a run because of `trigger` (after `delayMs`, the debounce by default). */
  request(trigger: Trigger, delayMs = this.opts.debounceMs): void {
    if (this.closed) return;
    const key = JSON.stringify(trigger);
    const echo = trigger.kind === 'kernel' && (this.runSince !== undefined || this.clock.now() - this.lastEnd < (this.opts.echoMs ?? 0));
    if (!this.pending.some((t) => sameTrigger(t, trigger))) {
      this.pending.push(trigger);
      if (echo) this.echoes.add(key);
    } else if (!echo) this.echoes.delete(key);
    this.schedule(echo ? 'echo' : trigger.kind, delayMs);
  }

  /** How long the run under way has been running (ms), if one is. */
  runningForMs(): number | undefined {
    return this.runSince === undefined ? undefined : this.clock.now() - this.runSince;
  }

  /** Queue an operation; resolves with the result of the run that carried it out. */
  submit(operation: Operation): Promise<R> {
    if (this.closed) return Promise.reject(new Error('the daemon is shutting down'));
    return new Promise<R>((resolve, reject) => {
      this.operations.push({ operation, resolve, reject });
      this.schedule('operation', 0);
    });
  }

  private armResync(): void {
    this.resyncTimer = this.clock.setTimeout(() => {
      this.request({ kind: 'resync' });
      if (!this.closed) this.armResync();
    }, this.opts.resyncMs);
  }

  private schedule(kind: Trigger['kind'] | 'pending' | 'echo', delayMs: number): void {
    if (this.closed || this.running || this.runSince !== undefined) return; // a run under way schedules the next when it ends
    // A run's own echo never cuts the backoff after it failed.
    const retry = kind === 'retry' || (kind === 'echo' && !this.lastOk);
    if (this.timer !== undefined) {
      // Only a real trigger may cut a backoff short, and an operator's command does not wait
      // out a debounce either; anything else joins the pending run.
      if (retry || (!this.timerIsRetry && kind !== 'operation')) return;
      this.clock.clearTimeout(this.timer);
    }
    // The minimum interval paces event storms (kernel events); an operator's save or command
    // is not made to wait for it.
    const paced = kind === 'kernel' || kind === 'pending' || kind === 'echo';
    const sinceLast = this.clock.now() - this.lastStart;
    const wait = retry || !paced ? delayMs : Math.max(delayMs, this.opts.minIntervalMs - sinceLast);
    this.timerIsRetry = retry;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.running = this.fire().finally(() => {
        this.running = undefined;
        this.afterRun();
      });
    }, wait);
  }

  private async fire(): Promise<void> {
    const triggers = this.pending;
    this.pending = [];
    this.echoes.clear();
    const op = this.operations.shift();
    this.lastTriggers = triggers;
    this.lastOk = true;
    if (!op && triggers.length === 0) return;
    this.lastStart = this.clock.now();
    this.runSince = this.lastStart;
    const deadline = this.opts.runDeadlineMs !== undefined ? this.lastStart + this.opts.runDeadlineMs : undefined;
    try {
      const r = await this.sync({ triggers, operation: op?.operation, deadline });
      this.lastOk = r.ok;
      op?.resolve(r.result as R);
    } catch (err) {
      this.lastOk = false;
      // An operation's caller gets the error (and reports it); otherwise it is logged here.
      if (op) op.reject(err);
      else this.opts.onError?.(err);
    } finally {
      this.runSince = undefined;
      this.lastEnd = this.clock.now();
    }
  }

  private afterRun(): void {
    if (this.closed) return;
    if (this.opts.recheckMs !== undefined && this.lastTriggers.some((t) => t.kind === 'config' && t.cause === 'saved')) {
      if (this.recheckTimer !== undefined) this.clock.clearTimeout(this.recheckTimer);
      this.recheckTimer = this.clock.setTimeout(() => {
        this.recheckTimer = undefined;
        this.request({ kind: 'config', cause: 'recheck' });
      }, this.opts.recheckMs);
    }
    if (this.operations.length > 0) {
      if (!this.lastOk) this.failures++;
      else this.failures = 0;
      this.schedule('operation', 0);
      return;
    }
    if (this.lastOk) {
      this.failures = 0;
      if (this.pending.length > 0) this.schedule('pending', this.opts.debounceMs);
      return;
    }
    this.failures++;
    const delay = Math.min(this.opts.backoffMaxMs, this.opts.backoffMinMs * 2 ** (this.failures - 1));
    // Triggers that came in during the failed run are real work, except its own echo.
    if (this.pending.some((t) => t.kind !== 'retry' && t.kind !== 'resync' && !this.echoes.has(JSON.stringify(t)))) this.schedule('pending', this.opts.debounceMs);
    else this.request({ kind: 'retry' }, delay);
  }
}
