import type { Clock } from '../../../src/daemon/clock.js';

/** Let every promise callback and I/O callback that is ready run. */
export const settle = () => new Promise<void>((r) => setImmediate(r));

/** A clock that moves only when told: timers fire in time order as `advance` passes them. */
export class FakeClock implements Clock {
  private t = 0;
  private seq = 0;
  private timers: { at: number; id: number; fn: () => void }[] = [];

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.push({ at: this.t + Math.max(0, ms), id, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }

  /** Move time forward by `ms`, firing each due timer at its own moment. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await settle();
    // Bounded: a timer that re-arms itself at zero delay would otherwise spin forever.
    for (let i = 0; i < 10_000; i++) {
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
}
