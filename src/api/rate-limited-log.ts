/**
 * Counts events by kind and hands the counts to `report` at most once per interval: the first
 * event at once, later ones summed up. Anyone on the host can make the API refuse requests;
 * one log line per refusal would let them flood the journal until it rate-limits the
 * daemon's own errors.
 */
export class RateLimitedCount {
  private pending = new Map<string, number>();
  private lastReport = -Infinity;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly report: (counts: Record<string, number>) => void,
  ) {}

  add(kind = 'events'): void {
    this.pending.set(kind, (this.pending.get(kind) ?? 0) + 1);
    if (this.timer) return;
    const wait = this.lastReport + this.intervalMs - performance.now();
    if (wait <= 0) {
      this.flush();
      return;
    }
    this.timer = setTimeout(() => this.flush(), wait);
    this.timer.unref();
  }

  private flush(): void {
    this.timer = undefined;
    if (this.pending.size === 0) return;
    this.lastReport = performance.now();
    const counts = Object.fromEntries(this.pending);
    this.pending = new Map();
    this.report(counts);
  }
}
