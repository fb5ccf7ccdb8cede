/**
 * The fleet's one clock. Epoch milliseconds with sub-millisecond precision (performance.now based), so
 * scheduled, send and acknowledgement times are comparable across worker processes of one machine.
 * Timer functions are looked up at call time so `vi.useFakeTimers()` can replace them in tests.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};
