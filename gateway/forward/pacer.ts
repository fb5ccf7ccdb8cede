/**
 * Paces forward requests to TagoIO's per-profile limit. TagoIO counts `POST /data` requests per
 * wall-clock minute and answers 429 past the limit (DESIGN.md). Two rules, both must allow a request:
 * - at most `perMinute` requests in each wall-clock minute (TagoIO's own window);
 * - a token bucket of one second's worth of requests, so a backlog drains evenly through the minute
 *   instead of as one burst that trips the limit the moment another client shares the profile.
 * `pause(untilMs)` holds everything after a 429 until TagoIO's Retry-After has passed.
 */
export class Pacer {
  private windowStart = 0;
  private windowCount = 0;
  private tokens: number;
  private lastRefill: number;
  private pausedUntil = 0;
  private readonly capacity: number;
  private readonly perMs: number;

  constructor(
    private readonly perMinute: number,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {
    this.capacity = Math.max(1, Math.ceil(perMinute / 60));
    this.perMs = perMinute / windowMs;
    this.tokens = this.capacity;
    this.lastRefill = now();
  }

  /** 0 and counts the request when one may go now; else milliseconds to wait before asking again. */
  take(): number {
    const t = this.now();
    if (t < this.pausedUntil) return this.pausedUntil - t;
    const start = t - (t % this.windowMs);
    if (start !== this.windowStart) {
      this.windowStart = start;
      this.windowCount = 0;
    }
    if (this.windowCount >= this.perMinute) return start + this.windowMs - t;
    this.tokens = Math.min(this.capacity, this.tokens + (t - this.lastRefill) * this.perMs);
    this.lastRefill = t;
    if (this.tokens < 1) return Math.max(1, Math.ceil((1 - this.tokens) / this.perMs));
    this.tokens -= 1;
    this.windowCount += 1;
    return 0;
  }

  pause(untilMs: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, untilMs);
  }

  get pausedUntilMs(): number {
    return this.pausedUntil;
  }
}
