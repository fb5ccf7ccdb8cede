/**
 * TagoIO's hard limit on POST /data: requests per profile per wall-clock minute. The counter resets at the
 * next window boundary (reach the max at 12:45:09, next request allowed at 12:46:00), so windows are
 * aligned to multiples of their length in epoch time rather than sliding. The simulator is one profile.
 * Refused requests count too: TagoIO counts every request it receives.
 */
export interface RateDecision {
  allowed: boolean;
  /** Whole seconds to the next window boundary (at least 1), for `Retry-After`. */
  retryAfterS: number;
}

export class WindowRateLimiter {
  #window = -1;
  #count = 0;

  reset(): void {
    this.#window = -1;
    this.#count = 0;
  }

  take(nowMs: number, limit: number, windowMs: number): RateDecision {
    const window = Math.floor(nowMs / windowMs);
    if (window !== this.#window) {
      this.#window = window;
      this.#count = 0;
    }
    this.#count++;
    if (limit <= 0 || this.#count <= limit) return { allowed: true, retryAfterS: 0 };
    const nextBoundary = (window + 1) * windowMs;
    return { allowed: false, retryAfterS: Math.max(1, Math.ceil((nextBoundary - nowMs) / 1000)) };
  }
}
