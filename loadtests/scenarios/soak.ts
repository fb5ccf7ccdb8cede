/**
 * `soak` (opt-in): the sizing mix for a long time (`--duration`, default 30 min). Judges what only time
 * shows: resident memory growth and end-to-end latency drift (first quarter vs last quarter of the run),
 * plus the usual latency, success and loss.
 */
import { ArrivalTracker } from '../arrivals.js';
import { measureLoss } from '../loss.js';
import { SIZING } from '../slo.js';
import { type Check, check } from '../verdict.js';
import type { Ctx, ScenarioResult } from './context.js';
import { mixChecks, runData, runMix } from './mixed-load.js';
import { healthChecks, lossCheck } from './shared-checks.js';

const avg = (xs: number[]): number | undefined => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined);

/** Growth in % from the first quarter's average to the last quarter's. */
function drift(points: Array<{ t: number; v: number }>, start: number, end: number): number | undefined {
  const q = (end - start) / 4;
  const first = avg(points.filter((p) => p.t >= start && p.t < start + q).map((p) => p.v));
  const last = avg(points.filter((p) => p.t > end - q && p.t <= end).map((p) => p.v));
  if (first === undefined || last === undefined || first <= 0) return undefined;
  return ((last - first) / first) * 100;
}

export async function soak(ctx: Ctx): Promise<ScenarioResult> {
  const durationMs = ctx.settings.durationMs ?? 30 * 60_000;
  ctx.progress.log(`soak: sizing load for ${Math.round(durationMs / 60_000)} min`);
  const tracker = ctx.target.simUrl
    ? new ArrivalTracker(ctx.target.simUrl, ctx.timeline, 'soak end-to-end')
    : undefined;
  tracker?.start(1_000);
  const start = ctx.timeline.now();
  const runs = await ctx.timeline.phase('soak', () =>
    runMix(ctx, {
      label: 'soak',
      seed: 300,
      devices: SIZING.devices,
      pointsPerDay: SIZING.pointsPerDay,
      speedup: ctx.settings.speedup,
      durationMs,
      drainMs: 10_000,
      ...(tracker ? { tracker } : {}),
    }),
  );
  const end = ctx.timeline.now();
  const loss = await measureLoss(ctx, runs, 60_000);
  await tracker?.stop();
  const rss = ctx.timeline
    .samplesBetween(start, end)
    .flatMap((s) => (s.rssMb === undefined ? [] : [{ t: s.t, v: s.rssMb }]));
  const lat = ctx.timeline.latency.filter((p) => p.series === 'soak end-to-end').map((p) => ({ t: p.t, v: p.p99 }));
  const memDrift = drift(rss, start, end);
  const latDrift = drift(lat, start, end);
  const max = ctx.slos.soakDriftPctMax;
  const pct = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(1)} %`;
  const checks: Check[] = [
    ...mixChecks(ctx, 'soak', runs),
    lossCheck(ctx, 'soak', loss),
    ...healthChecks(ctx, 'soak', start, end),
    check('soak', 'memory drift (RSS, last vs first quarter)', `< +${max} %`, memDrift, (v) => v < max, pct),
    check('soak', 'latency drift (end-to-end p99)', `< +${max} %`, latDrift, (v) => v < max, pct),
  ];
  return {
    name: 'soak',
    checks,
    data: { durationMs, runs: runs.map(runData), loss, memDriftPct: memDrift, latencyDriftPct: latDrift },
  };
}
