/**
 * Runs one sync function with bounded frequency (after kube-proxy's runner): bursts of
 * requests within `debounceMs` merge into one run, runs never overlap, runs caused by kernel
 * events start at least `minIntervalMs` apart, a periodic resync runs even when nothing asked, and failures retry
 * with exponential backoff. A real trigger (config saved, kernel event) does not wait out a
 * backoff: drift must be repaired in well under a second even while something else fails.
 */
export interface SchedulerOptions {
  debounceMs: number;
  minIntervalMs: number;
  resyncMs: number;
  backoffMinMs: number;
  backoffMaxMs: number;
  /** Called when the sync function throws (it should return { ok: false } instead). */
  onError?: (err: unknown) => void;
}

export type SyncFn = (reasons: Set<string>) => Promise<{ ok: boolean }>;

export class SyncScheduler {
  private pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private timerIsRetry = false;
  private resync: NodeJS.Timeout | undefined;
  private running = false;
  private lastStart = -Infinity;
  private failures = 0;
  private closed = false;

  constructor(
    private readonly sync: SyncFn,
    private readonly opts: SchedulerOptions,
  ) {}

  start(): void {
    this.resync = setInterval(() => this.request('resync'), this.opts.resyncMs);
    this.resync.unref();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.resync);
  }

  request(reason: string, delayMs = this.opts.debounceMs): void {
    if (this.closed) return;
    this.pending.add(reason);
    if (this.running) return;
    const retry = reason === 'retry';
    if (this.timer) {
      // Only a real trigger may cut a backoff short; anything else joins the pending run.
      if (!this.timerIsRetry || retry) return;
      clearTimeout(this.timer);
    }
    // The minimum interval paces event storms (kernel events); an operator's save or command
    // is not made to wait for it.
    const paced = reason.startsWith('kernel') || reason === 'pending';
    const sinceLast = performance.now() - this.lastStart;
    const wait = retry || !paced ? delayMs : Math.max(delayMs, this.opts.minIntervalMs - sinceLast);
    this.timerIsRetry = retry;
    this.timer = setTimeout(() => void this.fire(), wait);
  }

  private async fire(): Promise<void> {
    this.timer = undefined;
    if (this.running || this.closed) return;
    const reasons = this.pending;
    this.pending = new Set();
    this.running = true;
    this.lastStart = performance.now();
    let ok = false;
    try {
      ok = (await this.sync(reasons)).ok;
    } catch (err) {
      this.opts.onError?.(err);
    } finally {
      this.running = false;
    }
    if (ok) {
      this.failures = 0;
      if (this.pending.size > 0) this.request('pending');
    } else {
      this.failures++;
      const delay = Math.min(this.opts.backoffMaxMs, this.opts.backoffMinMs * 2 ** (this.failures - 1));
      // Triggers that came in during the failed run are real work: they go at the normal pace.
      if ([...this.pending].some((r) => r !== 'retry' && r !== 'resync')) this.request('pending');
      else this.request('retry', delay);
    }
  }
}
