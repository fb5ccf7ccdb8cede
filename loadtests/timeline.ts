/**
 * Everything the report draws over time, on one clock: milliseconds since the gate started. Scenarios append
 * points; the sampler appends process samples; phases mark which scenario (or step) ran when.
 */
export interface LatencyPoint {
  t: number;
  series: string;
  p50: number;
  p99: number;
  count: number;
}

export interface RatePoint {
  t: number;
  series: string;
  perSec: number;
}

export interface ProcessSample {
  t: number;
  /** Gateway CPU, % of one core, over the last interval. */
  cpuPct: number | undefined;
  rssMb: number | undefined;
  depthPoints: number | undefined;
}

export interface Phase {
  name: string;
  start: number;
  end: number;
}

export class Timeline {
  readonly startedAt = Date.now();
  readonly latency: LatencyPoint[] = [];
  readonly throughput: RatePoint[] = [];
  readonly samples: ProcessSample[] = [];
  readonly phases: Phase[] = [];

  now(): number {
    return Date.now() - this.startedAt;
  }

  /** Runs `fn` as a named phase. */
  async phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const start = this.now();
    try {
      return await fn();
    } finally {
      this.phases.push({ name, start, end: this.now() });
    }
  }

  samplesBetween(start: number, end: number): ProcessSample[] {
    return this.samples.filter((s) => s.t >= start && s.t <= end);
  }
}
