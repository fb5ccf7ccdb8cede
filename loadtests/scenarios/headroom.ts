/**
 * `headroom`: the sizing mix at ×1, ×2, ×4 … of the compressed sizing rate, in short steps, until a step
 * breaks an ingest SLO (p99, success, errors). Reports the highest passing rate and its ratio to the sizing
 * target (100,000 points/day ≈ 1.157 points/s): with the default ×100 compression, step ×1 is already a
 * ratio of 100. Loss is judged in `sizing` and `outage`, not here: a step ends before the backlog drains.
 */
import { SIZING, SIZING_POINTS_PER_SEC } from '../slo.js';
import { check, fmtMs } from '../verdict.js';
import type { Ctx, ScenarioResult } from './context.js';
import { mixChecks, runData, runMix } from './mixed-load.js';

export async function headroom(ctx: Ctx, settle: () => Promise<void>): Promise<ScenarioResult> {
  const multipliers = ctx.settings.quick ? [1, 2, 4] : [1, 2, 4, 8, 16, 32, 64];
  const stepMs = ctx.settings.quick ? 3_000 : 6_000;
  const base = SIZING_POINTS_PER_SEC * ctx.settings.speedup;
  const steps = [];
  let best: number | undefined;
  let broke: { multiplier: number; failed: string[] } | undefined;
  for (const [i, m] of multipliers.entries()) {
    const rate = base * m;
    ctx.progress.log(`headroom: step ×${m}: ${rate.toFixed(0)} points/s for ${stepMs / 1000} s`);
    const runs = await ctx.timeline.phase(`headroom ×${m}`, () =>
      runMix(ctx, {
        label: `headroom ×${m}`,
        seed: 100 + 2 * i,
        devices: SIZING.devices,
        pointsPerDay: SIZING.pointsPerDay * m,
        speedup: ctx.settings.speedup,
        durationMs: stepMs,
        drainMs: 5_000,
      }),
    );
    const checks = mixChecks(ctx, `headroom ×${m}`, runs);
    const failed = checks.filter((c) => c.status !== 'pass');
    const achieved = runs.reduce((a, r) => a + r.summary.achieved.ackedPerSec, 0);
    steps.push({
      multiplier: m,
      ratePerSec: rate,
      achievedPerSec: achieved,
      pass: failed.length === 0,
      checks,
      runs: runs.map(runData),
    });
    ctx.progress.log(
      `headroom: ×${m}: ${failed.length === 0 ? 'pass' : `breaks (${failed.map((c) => `${c.slo} ${c.measured}`).join('; ')})`}; ${runs.map((r) => `${r.spec.protocol} p99 ${fmtMs(r.summary.latencyMs.fromSchedule.p99)}`).join(', ')}`,
    );
    if (failed.length > 0) {
      broke = { multiplier: m, failed: failed.map((c) => `${c.slo}: ${c.measured}`) };
      break;
    }
    best = rate;
    await settle();
  }
  const ratio = best === undefined ? 0 : best / SIZING_POINTS_PER_SEC;
  const measured = (v: number) =>
    best === undefined
      ? `0 (×1 step broke)`
      : `${v.toFixed(0)}× (${best.toFixed(0)} pts/s${broke ? '' : ', no break found'})`;
  return {
    name: 'headroom',
    checks: [
      check(
        'headroom',
        'headroom ratio vs sizing target',
        `>= ${ctx.slos.headroomRatioMin}×`,
        ratio,
        (v) => v >= ctx.slos.headroomRatioMin,
        measured,
        broke ? `broke at ×${broke.multiplier}: ${broke.failed.join('; ')}` : undefined,
      ),
    ],
    data: {
      sizingPointsPerSec: SIZING_POINTS_PER_SEC,
      highestPassingPerSec: best,
      ratio,
      lowerBound: broke === undefined,
      brokeAt: broke,
      stepMs,
      steps,
    },
  };
}
