/** Checks more than one scenario makes: loss, and the gateway's CPU and memory over a window. */
import type { LossResult } from '../loss.js';
import { type Check, check, fmtInt } from '../verdict.js';
import type { Ctx } from './context.js';

export function lossCheck(ctx: Ctx, scenario: string, loss: LossResult): Check {
  const note =
    loss.method === 'none'
      ? 'needs the local cloud-sim or --read-url'
      : `${loss.duplicates ?? '?'} duplicates; via ${loss.method}${loss.missingExamples.length ? `; missing e.g. ${loss.missingExamples.join(', ')}` : ''}`;
  return check(
    scenario,
    'acknowledged points lost',
    `<= ${ctx.slos.lostMax}`,
    loss.lost,
    (v) => v <= ctx.slos.lostMax,
    (v) => `${fmtInt(v)} of ${fmtInt(loss.acked)} (${loss.duplicates ?? '?'} dup)`,
    note,
  );
}

export function healthChecks(ctx: Ctx, scenario: string, start: number, end: number): Check[] {
  const samples = ctx.timeline.samplesBetween(start, end);
  const cpu = samples.map((s) => s.cpuPct).filter((v): v is number => v !== undefined);
  const rss = samples.map((s) => s.rssMb).filter((v): v is number => v !== undefined);
  const avgCpu = cpu.length ? cpu.reduce((a, b) => a + b, 0) / cpu.length : undefined;
  const peakRss = rss.length ? Math.max(...rss) : undefined;
  const limit = ctx.settings.memoryLimitMb;
  return [
    check(
      scenario,
      'gateway CPU (average)',
      `< ${ctx.slos.cpuAvgPctMax} % of a core`,
      avgCpu,
      (v) => v < ctx.slos.cpuAvgPctMax,
      (v) => `${v.toFixed(1)} %`,
      cpu.length ? `${cpu.length} samples` : 'gateway /metrics not reachable',
    ),
    check(
      scenario,
      'gateway memory (peak RSS)',
      `< ${ctx.slos.memoryPctMax} % of ${limit} MB`,
      peakRss === undefined ? undefined : (peakRss / limit) * 100,
      (v) => v < ctx.slos.memoryPctMax,
      (v) => `${v.toFixed(1)} % (${peakRss} MB)`,
    ),
  ];
}
