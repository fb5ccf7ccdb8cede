/**
 * Where points arrived upstream, and when. Two sources:
 *  - the local cloud-sim (`GET /_sim/received`, `GET /_sim/stats`): exact sets and duplicate counts;
 *  - a TagoIO-compatible `GET /data` (`--read-url`) read with each device token: the stored records'
 *    `metadata.sim_device`/`sim_seq`.
 *
 * End-to-end latency (scheduled send → arrival upstream) is observed by polling: a point first seen at poll
 * time T arrived at or before T, so each value is an upper bound, at most one poll interval high. cloud-sim
 * does not stamp arrival times, and this keeps the gate working against it unchanged.
 */
import { newHistogram } from '../simulators/fleet/histogram.js';
import { type FleetRun, fleetDeviceId, fleetToken, scheduledAt } from './fleet-load.js';
import type { Timeline } from './timeline.js';

export interface ReceivedView {
  /** Unique seqs per sim_device. */
  seqs: Map<string, Set<number>>;
  /** Duplicate points per sim_device (received − unique). */
  duplicates: Map<string, number>;
}

async function getJson(url: string, headers: Record<string, string> = {}): Promise<unknown> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return res.json();
}

export async function readFromSim(simUrl: string): Promise<ReceivedView> {
  const [received, stats] = (await Promise.all([
    getJson(`${simUrl}/_sim/received`),
    getJson(`${simUrl}/_sim/stats`),
  ])) as [Record<string, number[]>, { sequences: Record<string, { duplicates: number }> }];
  const seqs = new Map<string, Set<number>>();
  for (const [d, list] of Object.entries(received)) seqs.set(d, new Set(list));
  const duplicates = new Map<string, number>();
  for (const [d, s] of Object.entries(stats.sequences ?? {})) duplicates.set(d, s.duplicates);
  return { seqs, duplicates };
}

/** Reads every token the runs used from a TagoIO-compatible `GET /data`. */
export async function readFromApi(
  readUrl: string,
  runs: readonly FleetRun[],
  tokens: readonly string[] | undefined,
): Promise<ReceivedView> {
  const distinct = new Set<string>();
  for (const r of runs) for (let i = 0; i < r.spec.devices; i++) distinct.add(fleetToken(r.spec.seed, i, tokens));
  const seqs = new Map<string, Set<number>>();
  const duplicates = new Map<string, number>();
  const base = readUrl.replace(/\/+$/, '');
  for (const token of distinct) {
    const body = (await getJson(`${base}/data?qty=10000&ordination=ascending`, { 'Device-Token': token })) as {
      result?: Array<{ metadata?: Record<string, unknown> }>;
    };
    for (const rec of body.result ?? []) {
      const d = rec.metadata?.sim_device;
      const s = rec.metadata?.sim_seq;
      if (typeof d !== 'string' || typeof s !== 'number') continue;
      let set = seqs.get(d);
      if (!set) {
        set = new Set();
        seqs.set(d, set);
      }
      if (set.has(s)) duplicates.set(d, (duplicates.get(d) ?? 0) + 1);
      else set.add(s);
    }
  }
  return { seqs, duplicates };
}

/** Arrival latencies are recorded in whole milliseconds, up to one hour. */
const HIGHEST_MS = 3_600_000;

/** Polls cloud-sim while fleets run and records scheduled→arrival latency of each newly seen point. */
export class ArrivalTracker {
  readonly histogram = newHistogram(HIGHEST_MS);
  readonly #simUrl: string;
  readonly #timeline: Timeline;
  readonly #series: string;
  readonly #fleets: Array<Pick<FleetRun, 't0' | 'periodMs' | 'spec'>> = [];
  readonly #seen = new Map<string, Set<number>>();
  #timer: NodeJS.Timeout | undefined;
  #busy = false;
  /** Points scheduled before this epoch ms form the backlog whose delivery `backlogDeliveredAt` times. */
  backlogCutoff: number | undefined;
  /** When the last point scheduled before `backlogCutoff` was first seen upstream. */
  backlogDeliveredAt: number | undefined;

  constructor(simUrl: string, timeline: Timeline, series: string) {
    this.#simUrl = simUrl;
    this.#timeline = timeline;
    this.#series = series;
  }

  add(fleet: Pick<FleetRun, 't0' | 'periodMs' | 'spec'>): void {
    this.#fleets.push(fleet);
  }

  start(everyMs = 500): void {
    this.#timer = setInterval(() => void this.poll(), everyMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.poll();
  }

  async poll(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const received = (await getJson(`${this.#simUrl}/_sim/received`)) as Record<string, number[]>;
      const now = Date.now();
      const step = newHistogram(HIGHEST_MS);
      for (const f of this.#fleets) {
        for (let i = 0; i < f.spec.devices; i++) {
          const id = fleetDeviceId(f.spec.seed, i);
          const list = received[id];
          if (!list) continue;
          let seen = this.#seen.get(id);
          if (!seen) {
            seen = new Set();
            this.#seen.set(id, seen);
          }
          for (const seq of list) {
            if (seen.has(seq)) continue;
            seen.add(seq);
            const at = scheduledAt(f, i, seq);
            if (this.backlogCutoff !== undefined && at < this.backlogCutoff) this.backlogDeliveredAt = now;
            const ms = Math.max(1, Math.round(now - at));
            this.histogram.recordValue(Math.min(ms, HIGHEST_MS));
            step.recordValue(Math.min(ms, HIGHEST_MS));
          }
        }
      }
      if (step.totalCount > 0) {
        this.#timeline.latency.push({
          t: this.#timeline.now(),
          series: this.#series,
          p50: step.getValueAtPercentile(50),
          p99: step.getValueAtPercentile(99),
          count: step.totalCount,
        });
      }
    } catch {
      // a missed poll only coarsens the next one
    } finally {
      this.#busy = false;
    }
  }
}
