/**
 * The one clock of the gateway. Every piece of logic that depends on time (the forwarder's pacing and
 * back-off, retry policy, batching waits, the store's group commit, admission windows) takes a Clock
 * instead of calling Date.now(), performance.now() or setTimeout directly, so its timing is tested with
 * vitest's fake timers (`vi.useFakeTimers()` replaces the globals this clock reads at call time) or with
 * a hand-driven clock, never with sleeps.
 *
 * Invariant: `systemClock` reads the globals on every call (it never caches a bound function), so a test
 * that installs fake timers after a module was imported still controls it.
 */

/** A timer handle that can be cancelled; `unref` lets the process exit while it is pending. */
export interface ClockTimer {
  unref?(): unknown;
}

export interface Clock {
  /** Wall-clock milliseconds since the epoch (timestamps that leave the process: `time`, ages). */
  now(): number;
  /** Monotonic milliseconds with sub-millisecond resolution (durations, deadlines inside the process). */
  monotonic(): number;
  /** Runs `fn` after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): ClockTimer;
  clearTimeout(timer: ClockTimer | undefined): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout> | undefined),
};

/** Sleeps on the given clock (resolves after `ms`); with fake timers, advances with them. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => {
    clock.setTimeout(resolve, ms);
  });
}
