/**
 * Loss and duplicates, counted exactly: every acknowledged `(sim_device, sim_seq)` must be found upstream.
 * After the load stops, the upstream view is polled until every acknowledged point is there or the drain
 * wait ends; what is still missing then is lost. Without an upstream view (remote target, no `--read-url`)
 * the result is "not measured", never an estimate.
 */
import { expandRanges } from '../simulators/fleet/index.js';
import { type ReceivedView, readFromApi, readFromSim } from './arrivals.js';
import type { FleetRun } from './fleet-load.js';
import type { Ctx } from './scenarios/context.js';

export interface LossResult {
  method: 'cloud-sim' | 'read-url' | 'none';
  acked: number;
  lost: number | undefined;
  duplicates: number | undefined;
  /** From the end of the load until every acknowledged point was upstream (undefined if never). */
  drainMs: number | undefined;
  /** A few missing points, for the report. */
  missingExamples: string[];
}

function compare(
  runs: readonly FleetRun[],
  view: ReceivedView,
): { acked: number; lost: number; dups: number; examples: string[] } {
  let acked = 0;
  let lost = 0;
  let dups = 0;
  const examples: string[] = [];
  for (const r of runs) {
    for (const [device, ranges] of Object.entries(r.summary.acked)) {
      const got = view.seqs.get(device);
      dups += view.duplicates.get(device) ?? 0;
      for (const seq of expandRanges(ranges)) {
        acked++;
        if (!got?.has(seq)) {
          lost++;
          if (examples.length < 5) examples.push(`${device}#${seq}`);
        }
      }
    }
  }
  return { acked, lost, dups, examples };
}

export async function measureLoss(ctx: Ctx, runs: readonly FleetRun[], drainTimeoutMs: number): Promise<LossResult> {
  const { simUrl, readUrl, tokens } = ctx.target;
  const acked = runs.reduce((a, r) => a + r.summary.counts.acked, 0);
  if (!simUrl && !readUrl) {
    return { method: 'none', acked, lost: undefined, duplicates: undefined, drainMs: undefined, missingExamples: [] };
  }
  const read = () => (simUrl ? readFromSim(simUrl) : readFromApi(readUrl!, runs, tokens));
  const start = Date.now();
  const deadline = start + drainTimeoutMs;
  let last: ReturnType<typeof compare> | undefined;
  for (;;) {
    try {
      last = compare(runs, await read());
    } catch (err) {
      ctx.progress.log(`loss: reading upstream failed: ${(err as Error).message}`);
    }
    if (last && last.lost === 0) break;
    if (Date.now() >= deadline) break;
    ctx.progress.status(
      `waiting for delivery: ${last ? `${last.lost} of ${last.acked} acknowledged points not yet upstream` : '…'}`,
    );
    await new Promise((r) => setTimeout(r, 500));
  }
  if (!last) {
    return {
      method: simUrl ? 'cloud-sim' : 'read-url',
      acked,
      lost: undefined,
      duplicates: undefined,
      drainMs: undefined,
      missingExamples: [],
    };
  }
  return {
    method: simUrl ? 'cloud-sim' : 'read-url',
    acked: last.acked,
    lost: last.lost,
    duplicates: last.dups,
    drainMs: last.lost === 0 ? Date.now() - start : undefined,
    missingExamples: last.examples,
  };
}
