/**
 * A clock the test moves by hand: `now()` and `monotonic()` stand still until `advance(ms)`, which runs the
 * timers that fall due on the way, in order. For logic that also does real I/O (an HTTP upstream on
 * loopback), where vitest's fake timers would stop the I/O's own timers too.
 */
import type { Clock, ClockTimer } from '../../gateway/clock.js';

interface Timer extends ClockTimer {
  at: number;
  fn: () => void;
}

export class ManualClock implements Clock {
  private t: number;
  private timers: Timer[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  monotonic(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): ClockTimer {
    const timer: Timer = { at: this.t + Math.max(0, ms), fn, unref: () => timer };
    this.timers.push(timer);
    return timer;
  }

  clearTimeout(timer: ClockTimer | undefined): void {
    this.timers = this.timers.filter((t) => t !== timer);
  }

  /** Timers waiting now. */
  get pending(): number {
    return this.timers.length;
  }

  /** Moves time on by `ms`, running each timer that falls due (timers they set run too, if due). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = end;
  }
}
