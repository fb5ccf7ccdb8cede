/**
 * Runs a simulator fleet for a scenario (open model: arrivals on a wall-clock schedule, latency from the
 * scheduled time) and remembers what is needed afterwards to judge it: the schedule's t0 and period (to
 * compute each point's scheduled time for end-to-end latency) and the acknowledged sequences (for loss).
 */
import { type FleetSummary, type Protocol, runFleet, seededToken } from '../simulators/fleet/index.js';
import type { Ctx } from './scenarios/context.js';

export interface LoadSpec {
  /** Series name in the report, e.g. `sizing mqtt`. */
  name: string;
  protocol: Protocol;
  /** Distinct per fleet: device ids are `sim-<seed>-<index>`, so fleets never share a sequence space. */
  seed: number;
  devices: number;
  pointsPerDay: number;
  speedup: number;
  durationMs: number;
  drainMs: number;
  signal?: AbortSignal;
}

export interface FleetRun {
  spec: LoadSpec;
  summary: FleetSummary;
  /** Epoch ms of the schedule's start. */
  t0: number;
  periodMs: number;
}

export function fleetDeviceId(seed: number, index: number): string {
  return `sim-${seed}-${index}`;
}

/** The token device `index` uses: the same rule as the fleet (given tokens round-robin, else seeded). */
export function fleetToken(seed: number, index: number, tokens: readonly string[] | undefined): string {
  if (tokens && tokens.length > 0) return tokens[index % tokens.length]!;
  return seededToken(seed, index);
}

/** Scheduled time of point `seq` of device `index` (the fleet's schedule, no jitter, no bad points). */
export function scheduledAt(run: Pick<FleetRun, 't0' | 'periodMs' | 'spec'>, index: number, seq: number): number {
  return run.t0 + (index * run.periodMs) / run.spec.devices + seq * run.periodMs;
}

export async function runLoad(
  ctx: Ctx,
  spec: LoadSpec,
  onT0?: (t0: number, periodMs: number) => void,
): Promise<FleetRun> {
  const target = spec.protocol === 'http' || spec.protocol === 'https' ? ctx.target.http : ctx.target.mqtt;
  const ratePerSec = (spec.pointsPerDay / 86_400) * spec.speedup;
  const periodMs = (1000 * spec.devices) / ratePerSec;
  let t0 = 0;
  const summary = await runFleet(
    {
      protocol: spec.protocol,
      ...(spec.protocol === 'http' || spec.protocol === 'https' ? { targetHttp: target } : { targetMqtt: target }),
      devices: spec.devices,
      pointsPerDay: spec.pointsPerDay,
      speedup: spec.speedup,
      durationMs: spec.durationMs,
      drainMs: spec.drainMs,
      seed: spec.seed,
      profile: 'env',
      qos: 1,
      timeoutMs: 30_000,
      progressIntervalMs: 1_000,
      ...(ctx.target.tokens ? { tokens: ctx.target.tokens } : {}),
    },
    {
      ...(spec.signal ? { signal: spec.signal } : {}),
      startAt: () => {
        t0 = Date.now() + 20;
        onT0?.(t0, periodMs);
        return t0;
      },
      onProgress: (p) => {
        ctx.timeline.throughput.push({ t: ctx.timeline.now(), series: spec.name, perSec: p.ackRatePerSec });
        ctx.progress.status(
          `${spec.name}: ${p.acked}/${p.scheduled} acked, ${p.errors} errors, ${p.ackRatePerSec}/s, ${p.connected} connected`,
        );
      },
    },
  );
  return { spec, summary, t0, periodMs };
}

/** Good points that ended as anything but an ack (errors and unacked), over all good points. */
export function failureRatio(s: FleetSummary): { success: number; errorRate: number; total: number } {
  const bad = s.counts.errors + s.counts.unacked;
  const total = s.counts.acked + bad;
  if (total === 0) return { success: Number.NaN, errorRate: Number.NaN, total };
  return { success: s.counts.acked / total, errorRate: bad / total, total };
}
