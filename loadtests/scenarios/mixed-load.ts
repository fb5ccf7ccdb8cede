/**
 * The fleet mix the sizing-type scenarios use: half the devices over MQTT QoS 1, half over HTTP, at the
 * same time (each half carries half the points). Against a remote target with only one protocol, the whole
 * fleet uses that one.
 */

import type { Protocol } from '../../simulators/fleet/index.js';
import type { ArrivalTracker } from '../arrivals.js';
import { type FleetRun, failureRatio, runLoad } from '../fleet-load.js';
import { type Check, check, fmtMs, fmtPct } from '../verdict.js';
import type { Ctx } from './context.js';

export interface MixSpec {
  label: string;
  /** Seeds `seed` (MQTT) and `seed + 1` (HTTP): distinct device ids per fleet. */
  seed: number;
  devices: number;
  pointsPerDay: number;
  speedup: number;
  durationMs: number;
  drainMs: number;
  tracker?: ArrivalTracker;
}

function protocols(ctx: Ctx): Protocol[] {
  const out: Protocol[] = [];
  const m = ctx.target.mqtt;
  if (m) out.push(new URL(m).protocol.replace(':', '') as Protocol);
  const h = ctx.target.http;
  if (h) out.push(new URL(h).protocol.replace(':', '') as Protocol);
  return out;
}

export async function runMix(ctx: Ctx, spec: MixSpec): Promise<FleetRun[]> {
  const ps = protocols(ctx);
  if (ps.length === 0) throw new Error('no target to load');
  const share = ps.length;
  return Promise.all(
    ps.map((protocol, i) =>
      runLoad(
        ctx,
        {
          name: `${spec.label} ${protocol}`,
          protocol,
          seed: spec.seed + i,
          devices: Math.max(1, Math.round(spec.devices / share)),
          pointsPerDay: spec.pointsPerDay / share,
          speedup: spec.speedup,
          durationMs: spec.durationMs,
          drainMs: spec.drainMs,
        },
        (t0, periodMs) => {
          // Register as soon as the schedule is fixed so arrivals during the run are timed.
          spec.tracker?.add({
            t0,
            periodMs,
            spec: { devices: Math.max(1, Math.round(spec.devices / share)), seed: spec.seed + i } as FleetRun['spec'],
          });
        },
      ),
    ),
  );
}

const isMqtt = (r: FleetRun) => r.spec.protocol !== 'http' && r.spec.protocol !== 'https';

/** Latency (per protocol), success and error checks of a mix. */
export function mixChecks(ctx: Ctx, scenario: string, runs: readonly FleetRun[]): Check[] {
  const { slos } = ctx;
  const out: Check[] = [];
  for (const r of runs) {
    const lat = r.summary.latencyMs.fromSchedule;
    const name = isMqtt(r) ? 'MQTT publish-to-PUBACK p99' : 'HTTP response p99';
    out.push(
      check(
        scenario,
        name,
        `< ${slos.latencyP99Ms} ms`,
        lat.count > 0 ? lat.p99 : undefined,
        (v) => v < slos.latencyP99Ms,
        fmtMs,
        lat.count > 0 ? 'from the scheduled send time' : 'no acknowledged point',
      ),
    );
    if (lat.count === 0 && r.summary.counts.scheduled > 0) out[out.length - 1]!.status = 'fail';
  }
  const agg = runs.reduce(
    (a, r) => {
      const f = failureRatio(r.summary);
      return { ok: a.ok + r.summary.counts.acked, total: a.total + f.total };
    },
    { ok: 0, total: 0 },
  );
  const success = agg.total ? agg.ok / agg.total : undefined;
  out.push(
    check(
      scenario,
      'success ratio',
      `>= ${fmtPct(slos.successRatioMin, 1)}`,
      success,
      (v) => v >= slos.successRatioMin,
      (v) => `${fmtPct(v, 3)} of ${agg.total}`,
    ),
    check(
      scenario,
      'error rate',
      `< ${fmtPct(slos.errorRateMax, 1)}`,
      success === undefined ? undefined : 1 - success,
      (v) => v < slos.errorRateMax,
      (v) => fmtPct(v, 3),
    ),
  );
  return out;
}

/** Compact per-run figures for the report. */
export function runData(r: FleetRun) {
  const s = r.summary;
  return {
    name: r.spec.name,
    protocol: r.spec.protocol,
    devices: r.spec.devices,
    targetPerSec: Math.round((r.spec.pointsPerDay / 86_400) * r.spec.speedup * 100) / 100,
    achieved: s.achieved,
    counts: s.counts,
    latencyFromSchedule: s.latencyMs.fromSchedule,
    latencyFromSend: s.latencyMs.fromSend,
    schedulingLag: s.schedulingLagMs,
    connections: s.connections,
  };
}
