/**
 * `outage`: the sizing mix runs while the upstream is down (`POST /_sim/faults {"outage":true}`: cloud-sim
 * destroys every socket) for a window, then comes back. The gateway must keep acknowledging (its store
 * absorbs the backlog), lose nothing, and deliver the backlog after; the drain time is measured from the
 * end of the outage to the moment every acknowledged point is upstream. Needs the cloud-sim control API.
 */
import { ArrivalTracker } from '../arrivals.js';
import { measureLoss } from '../loss.js';
import { SIZING } from '../slo.js';
import { type Check, check, fmtMs } from '../verdict.js';
import type { Ctx, ScenarioResult } from './context.js';
import { mixChecks, runData, runMix } from './mixed-load.js';
import { lossCheck } from './shared-checks.js';

async function setOutage(simUrl: string, outage: boolean): Promise<void> {
  const res = await fetch(`${simUrl}/_sim/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ outage }),
  });
  if (!res.ok) throw new Error(`POST /_sim/faults: HTTP ${res.status} ${await res.text()}`);
}

export async function outage(ctx: Ctx, windowMs: number): Promise<ScenarioResult> {
  const simUrl = ctx.target.simUrl;
  if (!simUrl) {
    return { name: 'outage', checks: [], data: {}, skipped: 'needs control of the upstream (the local cloud-sim)' };
  }
  const beforeMs = ctx.settings.quick ? 2_000 : 5_000;
  const afterMs = ctx.settings.quick ? 2_000 : 5_000;
  ctx.progress.log(
    `outage: load for ${(beforeMs + windowMs + afterMs) / 1000} s, upstream down for ${windowMs / 1000} s of it`,
  );
  const tracker = new ArrivalTracker(simUrl, ctx.timeline, 'outage end-to-end');
  tracker.start(500);
  let outageEnd = 0;
  const timers: NodeJS.Timeout[] = [];
  const faults = new Promise<void>((resolve, reject) => {
    timers.push(
      setTimeout(() => {
        ctx.progress.log('outage: upstream DOWN');
        setOutage(simUrl, true).catch(reject);
      }, beforeMs),
      setTimeout(() => {
        setOutage(simUrl, false).then(() => {
          outageEnd = Date.now();
          tracker.backlogCutoff = outageEnd;
          ctx.progress.log('outage: upstream back');
          resolve();
        }, reject);
      }, beforeMs + windowMs),
    );
  });
  let runs: Awaited<ReturnType<typeof runMix>>;
  try {
    runs = await ctx.timeline.phase('outage', () =>
      runMix(ctx, {
        label: 'outage',
        seed: 200,
        devices: SIZING.devices,
        pointsPerDay: SIZING.pointsPerDay,
        speedup: ctx.settings.speedup,
        durationMs: beforeMs + windowMs + afterMs,
        drainMs: 10_000,
        tracker,
      }),
    );
    await faults;
  } finally {
    for (const t of timers) clearTimeout(t);
    await setOutage(simUrl, false).catch(() => undefined);
  }
  ctx.progress.log('outage: load done; waiting for the backlog to drain');
  const loss = await ctx.timeline.phase('outage drain', () =>
    measureLoss(ctx, runs, ctx.slos.outageDrainMsMax + 10_000),
  );
  await tracker.stop();
  // Drain: from the upstream's return to the arrival of the last point scheduled before it (an upper bound
  // by one poll interval). Only meaningful when everything arrived.
  const deliveredAt = tracker.backlogDeliveredAt;
  const drainMs = loss.lost === 0 && deliveredAt !== undefined ? Math.max(0, deliveredAt - outageEnd) : undefined;
  const checks: Check[] = [
    ...mixChecks(ctx, 'outage', runs),
    lossCheck(ctx, 'outage', loss),
    check(
      'outage',
      'drain after upstream returns',
      `< ${fmtMs(ctx.slos.outageDrainMsMax)}`,
      drainMs,
      (v) => v < ctx.slos.outageDrainMsMax,
      fmtMs,
      drainMs === undefined ? 'backlog never fully delivered' : undefined,
    ),
  ];
  if (drainMs === undefined) checks[checks.length - 1]!.status = 'fail';
  const peakDepth = Math.max(0, ...ctx.timeline.samples.map((s) => s.depthPoints ?? 0));
  ctx.progress.log(
    `outage: lost ${loss.lost ?? 'not measured'}, duplicates ${loss.duplicates ?? '?'}, drained ${drainMs === undefined ? 'never' : fmtMs(drainMs)} after the upstream returned`,
  );
  return {
    name: 'outage',
    checks,
    data: { windowMs, beforeMs, afterMs, runs: runs.map(runData), loss, drainMs, peakDepth },
  };
}
