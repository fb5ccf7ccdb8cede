/**
 * k6 suite: HTTP ingest (`POST /data`) at a constant arrival rate (open model: k6 starts iterations on
 * schedule whether or not earlier ones finished, and counts those it could not start as
 * `dropped_iterations`). Thresholds are the SPEC.md SLOs, so k6's exit code is the verdict.
 *
 *   k6 run -e TARGET_HTTP=https://edge.staging:8080 -e TOKENS=tok1,tok2 -e RATE=120 -e DURATION=5m \
 *     loadtests/k6/http-ingest.ts
 */
import { check } from 'k6';
import http from 'k6/http';
import type { Options } from 'k6/options';
import { arrivalScenario, summaryTrendStats, writeSummary } from './common.ts';

const TARGET = __ENV.TARGET_HTTP ?? 'http://127.0.0.1:8080';
const TOKENS = (__ENV.TOKENS ?? 'k6-device-0,k6-device-1,k6-device-2').split(',').filter((t) => t.length > 0);
const RATE = Number(__ENV.RATE ?? '116');
const DURATION = __ENV.DURATION ?? '1m';
const SUMMARY = __ENV.SUMMARY ?? 'k6-http-summary.json';

export const options: Options = {
  scenarios: arrivalScenario(RATE, DURATION),
  thresholds: {
    http_req_duration: ['p(99)<2000'],
    http_req_failed: ['rate<0.001'],
    checks: ['rate>0.999'],
    dropped_iterations: ['count==0'],
  },
  summaryTrendStats,
};

export default function (): void {
  const i = (__VU * 1_000_003 + __ITER) % TOKENS.length;
  const token = TOKENS[i] ?? 'k6-device-0';
  const body = JSON.stringify([
    {
      variable: 'temperature',
      value: 20 + Math.random() * 5,
      unit: 'C',
      metadata: { sim_device: `k6-${__VU}`, sim_seq: __ITER },
    },
  ]);
  const res = http.post(`${TARGET}/data`, body, {
    headers: { 'Content-Type': 'application/json', 'Device-Token': token },
    tags: { name: 'POST /data' },
  });
  check(res, {
    'status is 200': (r) => r.status === 200,
    'TagoIO answer': (r) => typeof r.body === 'string' && r.body.includes('"status":true'),
  });
}

export function handleSummary(data: object): Record<string, string> {
  return writeSummary(SUMMARY, data);
}
