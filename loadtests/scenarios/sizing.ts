/**
 * `sizing`: the deployment guide's target — 500 devices, 100,000 points/day — time-compressed by
 * `--speedup` (default ×100 ≈ 116 points/s), half over MQTT QoS 1 and half over HTTP. Judges latency from
 * the scheduled time, success and errors, loss (every acknowledged point must reach the cloud), and the
 * gateway's CPU and memory while it runs. End-to-end latency (schedule → arrival upstream) is reported.
 */
import { ArrivalTracker } from '../arrivals.js';
import { measureLoss } from '../loss.js';
import { SIZING } from '../slo.js';
import { type Check, check, fmtInt, fmtMs } from '../verdict.js';
import type { Ctx, ScenarioResult } from './context.js';
import { mixChecks, runData, runMix } from './mixed-load.js';
import { healthChecks, lossCheck } from './shared-checks.js';

function e2eSummary(t: ArrivalTracker | undefined) {
  const h = t?.histogram;
  if (!h || h.totalCount === 0) return undefined;
  return { count: h.totalCount, p50: h.getValueAtPercentile(50), p99: h.getValueAtPercentile(99), max: h.maxValue };
}

export async function sizing(ctx: Ctx): Promise<ScenarioResult> {
  const durationMs = ctx.settings.durationMs ?? (ctx.settings.quick ? 8_000 : 30_000);
  const speedup = ctx.settings.speedup;
  const rate = (SIZING.pointsPerDay / 86_400) * speedup;
  ctx.progress.log(
    `sizing: ${SIZING.devices} devices, ${fmtInt(SIZING.pointsPerDay)} points/day ×${speedup} = ${rate.toFixed(1)} points/s for ${durationMs / 1000} s`,
  );
  const tracker = ctx.target.simUrl
    ? new ArrivalTracker(ctx.target.simUrl, ctx.timeline, 'sizing end-to-end')
    : undefined;
  tracker?.start(500);
  const start = ctx.timeline.now();
  const runs = await ctx.timeline.phase('sizing', () =>
    runMix(ctx, {
      label: 'sizing',
      seed: 1,
      devices: SIZING.devices,
      pointsPerDay: SIZING.pointsPerDay,
      speedup,
      durationMs,
      drainMs: 10_000,
      ...(tracker ? { tracker } : {}),
    }),
  );
  const end = ctx.timeline.now();
  ctx.progress.log('sizing: load done; waiting for every acknowledged point to reach the cloud');
  const loss = await measureLoss(ctx, runs, ctx.settings.quick ? 10_000 : 30_000);
  await tracker?.stop();
  const checks: Check[] = mixChecks(ctx, 'sizing', runs);
  const achieved = runs.reduce((a, r) => a + r.summary.achieved.ackedPerSec, 0);
  checks.push(
    check(
      'sizing',
      'sizing rate sustained',
      `>= ${rate.toFixed(1)} pts/s (×${speedup})`,
      achieved,
      (v) => v >= rate * 0.95,
      (v) => `${v.toFixed(1)} pts/s`,
      '5 % allowance for the schedule edges',
    ),
    lossCheck(ctx, 'sizing', loss),
    ...healthChecks(ctx, 'sizing', start, end),
  );
  const e2e = e2eSummary(tracker);
  ctx.progress.log(
    `sizing: ${runs.map((r) => `${r.spec.name} p99 ${fmtMs(r.summary.latencyMs.fromSchedule.p99)}`).join(', ')}; lost ${loss.lost ?? 'not measured'}, duplicates ${loss.duplicates ?? 'not measured'}${e2e ? `, end-to-end p99 ≤ ${fmtMs(e2e.p99)}` : ''}`,
  );
  return {
    name: 'sizing',
    checks,
    data: {
      durationMs,
      speedup,
      targetPerSec: rate,
      runs: runs.map(runData),
      loss,
      endToEnd: e2e ?? 'not measured (needs the local cloud-sim)',
      endToEndMethod: 'arrival observed by polling GET /_sim/received every 500 ms: an upper bound, ≤ 500 ms high',
    },
  };
}
