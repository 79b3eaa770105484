/** A token bucket: `rate` tokens a second, at most `burst` saved up. Pure apart from the clock passed in. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(private readonly rate: number, private readonly burst: number, now: number) {
    this.tokens = burst;
    this.last = now;
  }

  take(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * Answers are limited per source address and overall, so a container flooding the probe port
 * gets few answers and cannot crowd out the peers. The per-source table is bounded.
 */
export class AnswerLimiter {
  private readonly perSource = new Map<string, TokenBucket>();
  private readonly overall: TokenBucket;

  constructor(now: number, private readonly perSourceRate = 20, overallRate = 1000) {
    this.overall = new TokenBucket(overallRate, overallRate, now);
  }

  allow(source: string, now: number): boolean {
    let b = this.perSource.get(source);
    if (!b) {
      if (this.perSource.size >= 4096) this.perSource.clear();
      b = new TokenBucket(this.perSourceRate, this.perSourceRate * 2, now);
      this.perSource.set(source, b);
    }
    return b.take(now) && this.overall.take(now);
  }
}
