/**
 * Samples the gateway process while the gate runs: CPU (% of one core), resident memory and store depth,
 * read from the gateway's own `GET /metrics` (prom-client's default process metrics under the
 * `tago_edge_process_` prefix, and `tago_edge_store_depth_points`). When the metrics lack a process series
 * and the gateway is a local child, `/proc/PID` fills in. A failed scrape leaves a gap, never a zero.
 */
import { readFileSync } from 'node:fs';
import type { Timeline } from './timeline.js';

export interface MetricValues {
  cpuSeconds: number | undefined;
  rssBytes: number | undefined;
  depthPoints: number | undefined;
}

/** The first sample (unlabelled or labelled) of a series whose name ends with `suffix`. */
function series(text: string, suffix: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m?.[1]?.endsWith(suffix)) {
      const v = Number(m[3]);
      if (Number.isFinite(v)) return v;
    }
  }
  return undefined;
}

export function parseMetrics(text: string): MetricValues {
  return {
    cpuSeconds: series(text, 'process_cpu_seconds_total'),
    rssBytes: series(text, 'process_resident_memory_bytes'),
    depthPoints: series(text, 'tago_edge_store_depth_points'),
  };
}

const CLK_TCK = 100;
const PAGE = 4096;

/** utime+stime and RSS of a local process from /proc (Linux). */
export function procStat(pid: number): { cpuSeconds: number; rssBytes: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ": state is field 0; utime 11, stime 12, rss 21 (pages).
    return {
      cpuSeconds: (Number(fields[11]) + Number(fields[12])) / CLK_TCK,
      rssBytes: Number(fields[21]) * PAGE,
    };
  } catch {
    return undefined;
  }
}

export class Sampler {
  readonly #metricsUrl: string | undefined;
  readonly #pid: number | undefined;
  readonly #timeline: Timeline;
  #timer: NodeJS.Timeout | undefined;
  #last: { t: number; cpu: number } | undefined;
  #busy = false;

  constructor(timeline: Timeline, metricsUrl: string | undefined, pid?: number) {
    this.#timeline = timeline;
    this.#metricsUrl = metricsUrl;
    this.#pid = pid;
  }

  async read(): Promise<MetricValues> {
    let v: MetricValues = { cpuSeconds: undefined, rssBytes: undefined, depthPoints: undefined };
    if (this.#metricsUrl) {
      try {
        const res = await fetch(this.#metricsUrl, { signal: AbortSignal.timeout(2_000) });
        if (res.ok) v = parseMetrics(await res.text());
      } catch {
        // a gap in the series
      }
    }
    if (this.#pid !== undefined && (v.cpuSeconds === undefined || v.rssBytes === undefined)) {
      const p = procStat(this.#pid);
      if (p) v = { ...v, cpuSeconds: v.cpuSeconds ?? p.cpuSeconds, rssBytes: v.rssBytes ?? p.rssBytes };
    }
    return v;
  }

  async sample(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const v = await this.read();
      const t = this.#timeline.now();
      let cpuPct: number | undefined;
      if (v.cpuSeconds !== undefined) {
        if (this.#last && t > this.#last.t)
          cpuPct = ((v.cpuSeconds - this.#last.cpu) / ((t - this.#last.t) / 1000)) * 100;
        this.#last = { t, cpu: v.cpuSeconds };
      }
      this.#timeline.samples.push({
        t,
        cpuPct: cpuPct === undefined ? undefined : Math.max(0, Math.round(cpuPct * 10) / 10),
        rssMb: v.rssBytes === undefined ? undefined : Math.round((v.rssBytes / 1_048_576) * 10) / 10,
        depthPoints: v.depthPoints,
      });
    } finally {
      this.#busy = false;
    }
  }

  start(everyMs = 1_000): void {
    void this.sample();
    this.#timer = setInterval(() => void this.sample(), everyMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Current store depth (undefined when the metrics are unreachable). */
  async depth(): Promise<number | undefined> {
    return (await this.read()).depthPoints;
  }
}
