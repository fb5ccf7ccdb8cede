/**
 * Paces forward requests to TagoIO's per-profile limit. TagoIO counts `POST /data` requests per
 * wall-clock minute and answers 429 past the limit (DESIGN.md). Two rules, both must allow a request:
 * - at most `perMinute` requests in each wall-clock minute (TagoIO's own window);
 * - a token bucket of one second's worth of requests, so a backlog drains evenly through the minute
 *   instead of as one burst that trips the limit the moment another client shares the profile.
 * `pause(untilMs)` holds everything after a 429 until TagoIO's Retry-After has passed.
 * `share()` is this process's part of the budget (a cluster node forwarding some of the partitions: the
 * nodes' shares add up to at most 1, so the profile's limit is shared, not multiplied by the node count).
 */
export class Pacer {
  private windowStart = 0;
  private windowCount = 0;
  private tokens = Number.POSITIVE_INFINITY;
  private lastRefill: number;
  private pausedUntil = 0;
  private capacity = 1;
  private perMs = 0;
  private limit = 0;
  private scale = Number.NaN;

  constructor(
    private readonly perMinute: number,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
    private readonly share: () => number = () => 1,
  ) {
    this.rescale(share());
    this.lastRefill = now();
  }

  private rescale(scale: number): void {
    this.scale = scale;
    const share = Math.max(0, Math.min(1, scale));
    // A node with any share sends at least one request a minute: below that it would never send its
    // partitions' points. The cluster can then exceed a tiny budget by up to one request per such node
    // (TagoIO's 429 and Retry-After pause it), which is better than points that are never forwarded.
    const perMinute = share > 0 ? Math.max(1, this.perMinute * share) : 0;
    this.limit = Math.floor(perMinute);
    this.capacity = Math.max(1, Math.ceil(perMinute / 60));
    this.perMs = perMinute / this.windowMs;
    this.tokens = Math.min(this.tokens, this.capacity);
  }

  /** 0 and counts the request when one may go now; else milliseconds to wait before asking again. */
  take(): number {
    const t = this.now();
    if (t < this.pausedUntil) return this.pausedUntil - t;
    const scale = this.share();
    if (scale !== this.scale) this.rescale(scale);
    // No share of the budget (a node holding no partitions): nothing of its own to send either.
    if (this.limit < 1) return 1_000;
    const start = t - (t % this.windowMs);
    if (start !== this.windowStart) {
      this.windowStart = start;
      this.windowCount = 0;
    }
    if (this.windowCount >= this.limit) return start + this.windowMs - t;
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
