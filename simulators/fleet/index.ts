/**
 * Device simulator fleet: the library behind `tago-edge simulate` and the load-test gate.
 *
 * ```ts
 * const summary = await runFleet({ protocol: 'mqtt', targetMqtt: 'mqtt://127.0.0.1:1883', devices: 500,
 *   pointsPerDay: 100_000, speedup: 60, durationMs: 60_000 });
 * summary.latencyMs.fromSchedule.p99; summary.acked['sim-1-0']; // [[0, 41]]
 * ```
 *
 * Open model: each device sends on a wall-clock schedule and never waits for an answer before the next point;
 * latency is measured from the scheduled time (see docs/simulate.md).
 */
import { runLocalFleet } from './fleet.js';
import { resolveOptions } from './options.js';
import type { FleetHooks, FleetOptions, FleetSummary } from './types.js';
import { runWorkers } from './workers.js';

export { countMissing, expandRanges } from './ack-ranges.js';
export type { ResolvedOptions } from './options.js';
export { FleetOptionsError, resolveOptions } from './options.js';
export { encodeHexFrame } from './profiles/hex.js';
export { mergeSummaries } from './summary.js';
export { deviceId, parseTokens, readTokensFile, seededToken } from './tokens.js';
export type {
  AckedRanges,
  BadKind,
  FleetHooks,
  FleetOptions,
  FleetSummary,
  LatencySummary,
  ProfileName,
  Progress,
  Protocol,
} from './types.js';
export { BAD_KINDS } from './types.js';

/**
 * Run a fleet to completion (`count` or `durationMs`), or until `hooks.signal` aborts; resolves with the
 * summary either way. Throws `FleetOptionsError` (code `EDGE_ERR_USAGE`) on invalid options, before any I/O.
 */
export async function runFleet(opts: FleetOptions, hooks: FleetHooks = {}): Promise<FleetSummary> {
  const o = resolveOptions(opts);
  if (o.workers > 1) return runWorkers(opts, o, hooks);
  return runLocalFleet(o, hooks);
}
