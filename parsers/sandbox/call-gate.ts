/**
 * How many parser isolates run at once. isolated-vm runs each isolate's calls on a pool of
 * `hardware_concurrency + 1` threads; a call woken while every pool thread is busy gets a new OS thread of its
 * own, created for that call and ended after it (isolated-vm src/lib/thread_pool.cc). With one isolate per
 * parser file, many files with work at once meant a thread per call: at 200 files the process reached
 * 218 threads, and the CPU per message rose about sevenfold (docs/performance.md, parsers).
 *
 * Invariants:
 * - At most `limit` calls hold a slot; the others wait, in arrival order, and their messages keep queueing
 *   for their own parser meanwhile (so they ride in the next, larger, batch).
 * - A call gives its slot back when it ends or when it has held it `lendAfterMs`, whichever comes first. A
 *   runaway or slow parser therefore delays other parsers by at most `lendAfterMs`, never by its time
 *   limit: past that, calls run beside it, on new threads if need be, as without the gate. Only calls that
 *   cost far more than making a thread are left to make one.
 * - The gate orders calls only; each parser keeps its own isolate, heap limit and per-call time limit (the
 *   time limit runs from when the isolate starts the call, so waiting here does not count against it).
 */
import { availableParallelism } from 'node:os';

/**
 * isolated-vm's pool size: `std::thread::hardware_concurrency() + 1`. availableParallelism() counts the CPUs
 * this process may run on, never more than are online, so the gate is never wider than the pool.
 */
export const DEFAULT_CONCURRENT_CALLS = availableParallelism() + 1;
/** Far above a normal batch (256 hex frames take about 1.5 ms), far below the default 1 s time limit. */
export const DEFAULT_LEND_AFTER_MS = 10;

export type Release = () => void;

export class CallGate {
  private active = 0;
  private readonly waiting: Array<(release: Release) => void> = [];

  constructor(
    readonly limit: number = DEFAULT_CONCURRENT_CALLS,
    readonly lendAfterMs: number = DEFAULT_LEND_AFTER_MS,
  ) {
    if (!(limit >= 1)) throw new RangeError(`call gate limit must be at least 1, got ${limit}`);
  }

  /** Resolves with the slot's release once one is free; call the release when the work ends. */
  acquire(): Promise<Release> {
    if (this.active < this.limit) return Promise.resolve(this.grant());
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Calls holding a slot now (for tests and diagnostics). */
  get running(): number {
    return this.active;
  }

  private grant(): Release {
    this.active++;
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      clearTimeout(lend);
      this.active--;
      const next = this.waiting.shift();
      if (next) next(this.grant());
    };
    // unref: a lent slot must not keep a closing process alive.
    const lend = setTimeout(release, this.lendAfterMs);
    lend.unref();
    return release;
  }
}
