/**
 * Open-model schedule: device d sends point k at `t0 + phase(d) + k·period (+ jitter)`, whatever happened to
 * its earlier points. Phases spread the fleet evenly over one period: phase(d) = d·period/N, with d the
 * device's index in the whole fleet (so worker shards interleave instead of bunching up).
 *
 * One scheduler for the whole fleet: a binary min-heap of each device's next due time and one timer armed for
 * the earliest. 5,000 devices cost one timer, not 5,000 intervals. Invariant: each device has at most one entry
 * in the heap, and entries pop in due-time order.
 */

import type { Rng } from '../random.js';
import type { Clock } from './clock.js';
import { realClock } from './clock.js';

export interface SchedulePlan {
  t0: number;
  periodMs: number;
  /** Devices in the whole fleet (for phases). */
  totalDevices: number;
  /** Global indices of the devices this scheduler drives. */
  devices: readonly number[];
  jitterMs: number;
  /** Points per device, if bounded. */
  count?: number;
  /** No point is scheduled at or after this time, if bounded. */
  endAt?: number;
  rng: Rng;
}

/** Called for each due point: device (global index), k (0-based point number), scheduled and actual time. */
export type OnDue = (device: number, k: number, scheduledAt: number, firedAt: number) => void;

interface Entry {
  device: number;
  k: number;
  at: number;
}

/** Points fired per timer callback before yielding to I/O (keeps sockets serviced at high rates). */
const BATCH = 2_000;

export class Scheduler {
  readonly #plan: SchedulePlan;
  readonly #onDue: OnDue;
  readonly #clock: Clock;
  readonly #heap: Entry[] = [];
  #timer: unknown;
  #stopped = false;
  #resolveDone!: () => void;
  /** Resolves when every point has fired, or after `stop()`. */
  readonly done: Promise<void>;

  constructor(plan: SchedulePlan, onDue: OnDue, clock: Clock = realClock) {
    this.#plan = plan;
    this.#onDue = onDue;
    this.#clock = clock;
    this.done = new Promise((r) => {
      this.#resolveDone = r;
    });
  }

  /** Due time of point k of device d. */
  dueAt(device: number, k: number): number {
    const p = this.#plan;
    const jitter = p.jitterMs > 0 ? p.rng() * p.jitterMs : 0;
    return p.t0 + (device * p.periodMs) / p.totalDevices + k * p.periodMs + jitter;
  }

  start(): void {
    for (const device of this.#plan.devices) this.#pushIfInPlan(device, 0);
    this.#arm();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#heap.length = 0;
    this.#resolveDone();
  }

  /** Points still to fire (upper bound for unbounded runs is the heap size). */
  get pending(): number {
    return this.#heap.length;
  }

  #pushIfInPlan(device: number, k: number): void {
    const p = this.#plan;
    if (p.count !== undefined && k >= p.count) return;
    const at = this.dueAt(device, k);
    if (p.endAt !== undefined && at >= p.endAt) return;
    this.#push({ device, k, at });
  }

  #arm(): void {
    if (this.#stopped) return;
    const top = this.#heap[0];
    if (!top) {
      this.#resolveDone();
      return;
    }
    const delay = Math.max(0, top.at - this.#clock.now());
    this.#timer = this.#clock.setTimeout(() => this.#fire(), delay);
  }

  #fire(): void {
    this.#timer = undefined;
    let n = 0;
    while (!this.#stopped && n < BATCH) {
      const top = this.#heap[0];
      if (!top) break;
      const now = this.#clock.now();
      if (top.at > now) break;
      this.#pop();
      this.#pushIfInPlan(top.device, top.k + 1);
      n++;
      this.#onDue(top.device, top.k, top.at, now);
    }
    if (n >= BATCH && !this.#stopped) {
      // Still behind: let I/O run, then continue immediately (the lag is measured, not hidden).
      this.#timer = this.#clock.setTimeout(() => this.#fire(), 0);
      return;
    }
    this.#arm();
  }

  #push(e: Entry): void {
    const h = this.#heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.at <= e.at) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = e;
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    let i = 0;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && h[r]!.at < h[l]!.at ? r : l;
      if (h[c]!.at >= last.at) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
  }
}
