/**
 * The final summary: built from one process's accounting, or merged from worker summaries (counts summed,
 * HdrHistograms added exactly, per-device ack ranges united — shards own disjoint devices).
 */
import type { Histogram } from 'hdr-histogram-js';
import type { Accounting } from './accounting.js';
import { encode, mergeEncoded, summarize } from './histogram.js';
import type { ResolvedOptions } from './options.js';
import type { BadKind, FleetSummary } from './types.js';

export interface RunMeta {
  /** Epoch ms. */
  startedAt: number;
  endedAt: number;
  /** t0 to the end of the drain. */
  elapsedMs: number;
  /** t0 to the last scheduled point (the window rates are computed over). */
  scheduleMs: number;
  /** t0 to the last acknowledgement. */
  lastAckMs: number;
  unacked: number;
}

const perSec = (n: number, ms: number): number => (ms > 0 ? Math.round((n / ms) * 1000 * 100) / 100 : 0);

function summaryOptions(o: ResolvedOptions): FleetSummary['options'] {
  return {
    protocol: o.protocol,
    target: o.target,
    devices: o.devices,
    profile: o.profile,
    ratePerSec: o.ratePerSec,
    periodMs: o.periodMs,
    qos: o.qos,
    badRatio: o.badRatio,
    seed: o.seed,
    workers: o.workers,
  };
}

/**
 * Scheduled and sent per second over the schedule window; acked per second until the last ack (a backlog
 * drained after the window must not inflate the rate).
 */
function achieved(c: FleetSummary['counts'], scheduleMs: number, lastAckMs: number): FleetSummary['achieved'] {
  return {
    scheduledPerSec: perSec(c.scheduled, scheduleMs),
    sentPerSec: perSec(c.sent, scheduleMs),
    ackedPerSec: perSec(c.acked, Math.max(scheduleMs, lastAckMs)),
  };
}

function latencies(fromSchedule: Histogram, fromSend: Histogram, lag: Histogram) {
  return {
    latencyMs: { fromSchedule: summarize(fromSchedule), fromSend: summarize(fromSend) },
    schedulingLagMs: summarize(lag),
    histograms: { fromSchedule: encode(fromSchedule), fromSend: encode(fromSend), schedulingLag: encode(lag) },
  };
}

export function buildSummary(acc: Accounting, o: ResolvedOptions, meta: RunMeta): FleetSummary {
  const badSent = Object.fromEntries(acc.badSent) as Partial<Record<BadKind, number>>;
  const counts: FleetSummary['counts'] = {
    scheduled: acc.scheduled,
    sent: acc.sent,
    resent: acc.resent,
    acked: acc.acked,
    unacked: meta.unacked,
    errors: acc.errors,
    errorsByKind: Object.fromEntries(acc.errorsByKind),
    badSent,
    badSentTotal: Object.values(badSent).reduce((a, b) => a + (b ?? 0), 0),
    rejected: acc.rejected,
    badAcked: acc.badAcked,
  };
  const acked: FleetSummary['acked'] = {};
  for (const [device, r] of acc.ackedByDevice) acked[device] = r.ranges;
  return {
    version: 1,
    startedAt: new Date(meta.startedAt).toISOString(),
    endedAt: new Date(meta.endedAt).toISOString(),
    elapsedMs: Math.round(meta.elapsedMs),
    scheduleMs: Math.round(meta.scheduleMs),
    lastAckMs: Math.round(meta.lastAckMs),
    options: summaryOptions(o),
    counts,
    ...latencies(acc.fromSchedule, acc.fromSend, acc.schedulingLag),
    achieved: achieved(counts, meta.scheduleMs, meta.lastAckMs),
    connections: {
      connected: acc.connected,
      connectFailures: acc.connectFailures,
      disconnects: acc.disconnects,
      reconnects: acc.reconnects,
    },
    acked,
  };
}

function sumRecord<K extends string>(items: ReadonlyArray<Partial<Record<K, number>>>): Partial<Record<K, number>> {
  const out: Partial<Record<K, number>> = {};
  for (const r of items) {
    for (const [k, v] of Object.entries(r) as Array<[K, number]>) out[k] = (out[k] ?? 0) + v;
  }
  return out;
}

/** Merge shard summaries of one run. Elapsed time spans the earliest start to the latest end. */
export function mergeSummaries(parts: readonly FleetSummary[], o: ResolvedOptions): FleetSummary {
  const first = parts[0];
  if (!first) throw new Error('mergeSummaries: no summaries');
  const sum = (f: (c: FleetSummary['counts']) => number): number => parts.reduce((a, p) => a + f(p.counts), 0);
  const counts: FleetSummary['counts'] = {
    scheduled: sum((c) => c.scheduled),
    sent: sum((c) => c.sent),
    resent: sum((c) => c.resent),
    acked: sum((c) => c.acked),
    unacked: sum((c) => c.unacked),
    errors: sum((c) => c.errors),
    errorsByKind: sumRecord(parts.map((p) => p.counts.errorsByKind)) as Record<string, number>,
    badSent: sumRecord(parts.map((p) => p.counts.badSent)),
    badSentTotal: sum((c) => c.badSentTotal),
    rejected: sum((c) => c.rejected),
    badAcked: sum((c) => c.badAcked),
  };
  const startedAt = Math.min(...parts.map((p) => Date.parse(p.startedAt)));
  const endedAt = Math.max(...parts.map((p) => Date.parse(p.endedAt)));
  // Shards share t0, so the longest shard elapsed is the run's.
  const elapsedMs = Math.max(...parts.map((p) => p.elapsedMs));
  const scheduleMs = Math.max(...parts.map((p) => p.scheduleMs));
  const lastAckMs = Math.max(...parts.map((p) => p.lastAckMs));
  const merge = (k: keyof FleetSummary['histograms']) => mergeEncoded(parts.map((p) => p.histograms[k]));
  const conn = (f: (c: FleetSummary['connections']) => number): number =>
    parts.reduce((a, p) => a + f(p.connections), 0);
  return {
    version: 1,
    startedAt: new Date(startedAt).toISOString(),
    endedAt: new Date(endedAt).toISOString(),
    elapsedMs,
    scheduleMs,
    lastAckMs,
    options: summaryOptions(o),
    counts,
    ...latencies(merge('fromSchedule'), merge('fromSend'), merge('schedulingLag')),
    achieved: achieved(counts, scheduleMs, lastAckMs),
    connections: {
      connected: conn((c) => c.connected),
      connectFailures: conn((c) => c.connectFailures),
      disconnects: conn((c) => c.disconnects),
      reconnects: conn((c) => c.reconnects),
    },
    acked: Object.assign({}, ...parts.map((p) => p.acked)),
  };
}
