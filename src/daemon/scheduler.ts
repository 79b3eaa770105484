/**
 * Runs one sync function with bounded frequency (after kube-proxy's runner): bursts of
 * requests within `debounceMs` merge into one run, runs never overlap, a periodic resync
 * runs even when nothing asked, and failures retry with exponential backoff.
 */
export interface SchedulerOptions {
  debounceMs: number;
  resyncMs: number;
  backoffMinMs: number;
  backoffMaxMs: number;
}

export type SyncFn = (reasons: Set<string>) => Promise<{ ok: boolean }>;

export class SyncScheduler {
  private pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private resync: NodeJS.Timeout | undefined;
  private running = false;
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
    if (this.running || this.timer) return;
    this.timer = setTimeout(() => void this.fire(), delayMs);
  }

  private async fire(): Promise<void> {
    this.timer = undefined;
    if (this.running || this.closed) return;
    const reasons = this.pending;
    this.pending = new Set();
    this.running = true;
    let ok = false;
    try {
      ok = (await this.sync(reasons)).ok;
    } catch {
      ok = false;
    } finally {
      this.running = false;
    }
    if (ok) {
      this.failures = 0;
      if (this.pending.size > 0) this.request('pending');
    } else {
      this.failures++;
      const delay = Math.min(this.opts.backoffMaxMs, this.opts.backoffMinMs * 2 ** (this.failures - 1));
      this.request('retry', delay);
    }
  }
}
