/**
 * Per-key counters over fixed one-minute windows (per device uploads, per address auth failures).
 * Invariant: memory is bounded. Entries whose window (and cool-down) has passed are swept at most once
 * per `sweepEveryMs` on access (no timer keeps the process alive), and the map never holds more than
 * `maxKeys` entries: past that, the oldest inserted entries are dropped first.
 */
export interface WindowEntry {
  windowStart: number;
  count: number;
  /** Requests refused in this window (persistent offenders). */
  refused: number;
  /** Epoch ms until which this key is refused (auth cool-down); 0 = none. */
  blockedUntil: number;
}

export class WindowCounter {
  private readonly entries = new Map<string, WindowEntry>();
  private lastSweep = 0;

  constructor(
    private readonly windowMs = 60_000,
    private readonly maxKeys = 100_000,
    private readonly sweepEveryMs = 10_000,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The entry for `key` in the current window (a new window starts when the old one has passed). */
  entry(key: string, now: number): WindowEntry {
    this.sweep(now);
    let e = this.entries.get(key);
    if (e === undefined) {
      if (this.entries.size >= this.maxKeys) {
        const oldest = this.entries.keys().next();
        if (!oldest.done) this.entries.delete(oldest.value);
      }
      e = { windowStart: now, count: 0, refused: 0, blockedUntil: 0 };
      this.entries.set(key, e);
    } else if (now - e.windowStart >= this.windowMs) {
      e.windowStart = now;
      e.count = 0;
      e.refused = 0;
    }
    return e;
  }

  peek(key: string): WindowEntry | undefined {
    return this.entries.get(key);
  }

  /** Seconds until the current window of `e` ends (at least 1). */
  secondsLeft(e: WindowEntry, now: number): number {
    return Math.max(1, Math.ceil((e.windowStart + this.windowMs - now) / 1000));
  }

  sweep(now: number): void {
    if (now - this.lastSweep < this.sweepEveryMs) return;
    this.lastSweep = now;
    for (const [k, e] of this.entries) {
      if (now - e.windowStart >= this.windowMs && e.blockedUntil <= now) this.entries.delete(k);
    }
  }
}
