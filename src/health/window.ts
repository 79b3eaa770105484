/**
 * Probes sent to one peer over the last minute and what came back: the source of loss, RTT
 * and "full-size frames pass". Pure: every call takes the time, so tests drive it directly.
 */

export type ProbeSize = 'small' | 'full';

interface Sent {
  seq: number;
  size: ProbeSize;
  at: number;
  rttMs: number | undefined;
}

export interface WindowSummary {
  /** Small probes whose answer time is over (answered or timed out) in the window. */
  smallDone: number;
  smallLost: number;
  /** Lost / done over the window, counted from the first answer ever; null before it. */
  lossRatio: number | null;
  rttLastMs: number | null;
  rttAvgMs: number | null;
  /** Small probes lost in a row, newest first, counting only those whose time is over. */
  smallLostInRow: number;
  /** Full-size probes lost in a row (same rule). */
  fullLostInRow: number;
  /** Whether the newest decided full-size probe was answered; null when none is decided yet. */
  fullPassed: boolean | null;
  /**
   * A small probe sent after the first full-size probe of the lost row was answered: only then
   * do lost full-size probes say "too large" rather than "the link went down" (false when no
   * full-size probe is lost).
   */
  smallAnsweredSinceFullLoss: boolean;
  lastAnswerAt: number | null;
}

export const WINDOW_MS = 60_000;
/** Bound on records kept, whatever the interval: two probes a round, at most 5 rounds a second. */
const MAX_RECORDS = 2 * 5 * 60;

export class LinkWindow {
  private sent: Sent[] = [];
  private lastAnswerAt: number | null = null;
  /** Send time of the first probe ever answered: loss counts from there (a peer still starting is not loss). */
  private firstAnsweredSentAt: number | null = null;

  constructor(private readonly windowMs = WINDOW_MS) {}

  recordSent(seq: number, size: ProbeSize, at: number): void {
    this.sent.push({ seq, size, at, rttMs: undefined });
    this.prune(at);
  }

  /**
   * An answer to `seq`: returns its size if the probe was outstanding and still within its
   * timeout, undefined for an unknown, repeated or late answer (not counted as an answer).
   */
  recordAnswer(seq: number, at: number, timeoutMs: number): ProbeSize | undefined {
    const s = this.sent.find((x) => x.seq === seq);
    if (!s || s.rttMs !== undefined || at - s.at > timeoutMs) return undefined;
    s.rttMs = Math.max(0, at - s.at);
    this.lastAnswerAt = at;
    this.firstAnsweredSentAt ??= s.at;
    return s.size;
  }

  /** Whether `seq` is an outstanding probe (sent, unanswered, within `timeoutMs`). */
  isOutstanding(seq: number, at: number, timeoutMs: number): boolean {
    const s = this.sent.find((x) => x.seq === seq);
    return s !== undefined && s.rttMs === undefined && at - s.at <= timeoutMs;
  }

  summarize(now: number, timeoutMs: number): WindowSummary {
    this.prune(now);
    const decided = this.sent.filter((s) => s.rttMs !== undefined || now - s.at > timeoutMs);
    const small = decided.filter((s) => s.size === 'small');
    const full = decided.filter((s) => s.size === 'full');
    const counted = this.firstAnsweredSentAt === null ? [] : small.filter((s) => s.at >= this.firstAnsweredSentAt!);
    const lost = counted.filter((s) => s.rttMs === undefined).length;
    const rtts = small.filter((s) => s.rttMs !== undefined).map((s) => s.rttMs!);
    const inRow = (list: Sent[]) => {
      let n = 0;
      for (let i = list.length - 1; i >= 0 && list[i]!.rttMs === undefined; i--) n++;
      return n;
    };
    const fullLostInRow = inRow(full);
    const fullLostFrom = fullLostInRow > 0 ? full[full.length - fullLostInRow]!.at : null;
    const lastFull = full[full.length - 1];
    return {
      smallDone: small.length,
      smallLost: lost,
      lossRatio: counted.length === 0 ? null : lost / counted.length,
      rttLastMs: rtts.length ? rtts[rtts.length - 1]! : null,
      rttAvgMs: rtts.length ? rtts.reduce((a, b) => a + b, 0) / rtts.length : null,
      smallLostInRow: inRow(small),
      fullLostInRow,
      fullPassed: lastFull === undefined ? null : lastFull.rttMs !== undefined,
      smallAnsweredSinceFullLoss: fullLostFrom !== null && small.some((x) => x.rttMs !== undefined && x.at >= fullLostFrom),
      lastAnswerAt: this.lastAnswerAt,
    };
  }

  private prune(now: number): void {
    const from = now - this.windowMs;
    let drop = 0;
    while (drop < this.sent.length && this.sent[drop]!.at < from) drop++;
    if (this.sent.length - drop > MAX_RECORDS) drop = this.sent.length - MAX_RECORDS;
    if (drop > 0) this.sent = this.sent.slice(drop);
  }
}
