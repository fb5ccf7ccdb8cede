/**
 * `http-ladder`: the concurrency ladder of SPEC.md (10, 25, 50, 100 concurrent clients) on `POST /data`,
 * autocannon with one connection per client and device tokens rotated per request. Each step reports p50,
 * p99, p99.9 of the response time, the success ratio and the error rate.
 *
 * This is a closed loop (a client waits for each answer), so it measures response time at saturation, not
 * latency under a schedule. autocannon's coordinated-omission correction is not used: it assumes a 1 ms
 * interval whatever the rate, which inflates or invents the tail. Percentiles come from our own
 * HdrHistogram of every response (2xx or not), fed by autocannon's `response` events.
 *
 * The 50-client step is measured again with `hey` (or `wrk`) and the ratio of the p99s reported.
 */
import autocannon from 'autocannon';
import { newHistogram } from '../../simulators/fleet/histogram.js';
import { type Check, check, fmtMs, fmtPct } from '../verdict.js';
import type { Ctx, ScenarioResult } from './context.js';
import {
  type Agreement,
  agreementOf,
  type CrossCheck,
  crossCheck,
  crossCheckTimeoutSec,
  describeAgreement,
} from './cross-check.js';

export const LADDER = [10, 25, 50, 100] as const;
const CROSS_CHECK_AT = 50;
const BODY = JSON.stringify({ variable: 'temperature', value: 21.5, unit: 'C' });

export interface LadderStep {
  connections: number;
  durationSec: number;
  requests: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  requestsPerSec: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  success: number;
  errorRate: number;
}

async function step(
  ctx: Ctx,
  url: string,
  connections: number,
  durationSec: number,
  tokens: string[],
  series = `ladder c=${connections}`,
): Promise<LadderStep> {
  const all = newHistogram();
  let second = newHistogram();
  let n = 0;
  const instance = autocannon({
    url,
    connections,
    duration: durationSec,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        path: '/data',
        body: BODY,
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, headers: { ...req.headers, 'device-token': tokens[n++ % tokens.length]! } }),
      },
    ],
  });
  instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => {
    const us = Math.max(1, Math.round(ms * 1000));
    all.recordValue(us);
    second.recordValue(us);
  });
  const tick = setInterval(() => {
    const t = ctx.timeline.now();
    const count = second.totalCount;
    if (count > 0) {
      ctx.timeline.latency.push({
        t,
        series,
        p50: second.getValueAtPercentile(50) / 1000,
        p99: second.getValueAtPercentile(99) / 1000,
        count,
      });
    }
    ctx.timeline.throughput.push({ t, series, perSec: count });
    ctx.progress.status(`http-ladder: ${connections} connections, ${count} req/s`);
    second = newHistogram();
  }, 1_000);
  const result = await instance;
  clearInterval(tick);
  const total = result['2xx'] + result.non2xx + result.errors;
  const q = (p: number) => (all.totalCount ? all.getValueAtPercentile(p) / 1000 : Number.NaN);
  return {
    connections,
    durationSec,
    requests: total,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    requestsPerSec: Math.round((total / durationSec) * 10) / 10,
    p50: q(50),
    p99: q(99),
    p999: q(99.9),
    max: all.totalCount ? all.maxValue / 1000 : Number.NaN,
    success: total ? result['2xx'] / total : Number.NaN,
    errorRate: total ? (result.non2xx + result.errors) / total : Number.NaN,
  };
}

export async function httpLadder(ctx: Ctx): Promise<ScenarioResult> {
  const http = ctx.target.http;
  if (!http) return { name: 'http-ladder', checks: [], data: {}, skipped: 'no HTTP target (--target-http)' };
  const url = `${http.replace(/\/+$/, '')}/data`;
  const durationSec = ctx.settings.quick ? 4 : 10;
  const tokens = ctx.target.tokens ?? Array.from({ length: 500 }, (_, i) => `ladder-device-${i}`);
  const steps: LadderStep[] = [];
  const checks: Check[] = [];
  const { slos } = ctx;
  // Warm-up (JIT, connection pools, SQLite pages): measured by nobody.
  ctx.progress.log('http-ladder: warm-up, 10 connections, 2 s (discarded)');
  await ctx.timeline.phase('ladder warm-up', () => step(ctx, url, 10, 2, tokens, 'warm-up'));
  for (const c of LADDER) {
    ctx.progress.log(`http-ladder: ${c} connections for ${durationSec} s`);
    const s = await ctx.timeline.phase(`ladder ${c}`, () => step(ctx, url, c, durationSec, tokens));
    steps.push(s);
    ctx.progress.log(
      `http-ladder: ${c} connections: ${s.requestsPerSec} req/s, p50 ${fmtMs(s.p50)}, p99 ${fmtMs(s.p99)}, success ${fmtPct(s.success)}`,
    );
    const scen = `http-ladder c=${c}`;
    if (s.requests === 0) {
      // No response within the step: its p99 is at least the step length, and nothing succeeded.
      const measured = `> ${durationSec} s (no response)`;
      checks.push(
        {
          scenario: scen,
          slo: 'HTTP response p99',
          target: `< ${slos.latencyP99Ms} ms`,
          measured,
          status: 'fail' as const,
        },
        {
          scenario: scen,
          slo: 'success ratio',
          target: `>= ${fmtPct(slos.successRatioMin, 1)}`,
          measured: '0 responses',
          status: 'fail' as const,
        },
      );
      continue;
    }
    checks.push(
      check(scen, 'HTTP response p99', `< ${slos.latencyP99Ms} ms`, s.p99, (v) => v < slos.latencyP99Ms, fmtMs),
      check(
        scen,
        'success ratio',
        `>= ${fmtPct(slos.successRatioMin, 1)}`,
        s.success,
        (v) => v >= slos.successRatioMin,
        (v) => fmtPct(v, 3),
      ),
      check(
        scen,
        'error rate',
        `< ${fmtPct(slos.errorRateMax, 1)}`,
        s.errorRate,
        (v) => v < slos.errorRateMax,
        (v) => fmtPct(v, 3),
      ),
    );
  }
  let agreement: Agreement | { error: string } | undefined;
  const at = steps.find((s) => s.connections === CROSS_CHECK_AT);
  if (at) {
    const timeoutSec = crossCheckTimeoutSec(slos.latencyP99Ms);
    ctx.progress.log(
      `http-ladder: cross-check at ${CROSS_CHECK_AT} connections with wrk (or hey) for ${durationSec} s, ${timeoutSec} s request timeout`,
    );
    const cc: CrossCheck | { error: string } = await ctx.timeline.phase('ladder cross-check', () =>
      crossCheck(url, CROSS_CHECK_AT, durationSec, tokens, BODY, { timeoutSec }),
    );
    agreement = 'error' in cc ? cc : agreementOf(cc, at.p99, at.requestsPerSec);
    ctx.progress.log(
      'error' in agreement
        ? `http-ladder: cross-check failed: ${agreement.error}`
        : `http-ladder: cross-check at ${CROSS_CHECK_AT} connections: ${describeAgreement(agreement)}`,
    );
  }
  return { name: 'http-ladder', checks, data: { durationSec, steps, crossCheck: agreement } };
}
