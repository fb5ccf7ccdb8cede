/**
 * The ladder's cross-check against a target slower than wrk's 2 s default timeout: the tools must be given a
 * timeout above the SLO, report the timeouts they saw, and say "not measured" (never 0 ms or a ratio of
 * Infinity) when they got no latency sample.
 */
import { describe, expect, it } from 'vitest';
import {
  agreementOf,
  crossCheck,
  crossCheckTimeoutSec,
  describeAgreement,
  parseHey,
  parseWrk,
} from '../../loadtests/scenarios/cross-check.js';
import { startFakeGateway } from './fake-gateway.js';

const BODY = '{"variable":"temperature","value":21.5}';
const SLO_P99_MS = 2000;

describe('cross-check against a target answering in 2.5 s', () => {
  it.each(['wrk', 'hey'] as const)(
    '%s measures the 2.5 s answers with a timeout above the SLO',
    async (tool) => {
      const target = await startFakeGateway(2500);
      const timeoutSec = crossCheckTimeoutSec(SLO_P99_MS);
      expect(timeoutSec).toBeGreaterThan(SLO_P99_MS / 1000);
      const cc = await crossCheck(`${target.url}/data`, 10, 3, ['t1', 't2'], BODY, { timeoutSec, tools: [tool] });
      if ('error' in cc) throw new Error(cc.error);
      expect(cc.tool).toBe(tool);
      expect(cc.timeouts).toBe(0);
      expect(cc.responses).toBeGreaterThanOrEqual(10);
      expect(cc.p99Ms).toBeGreaterThanOrEqual(2500);
      expect(cc.p99Ms).toBeLessThan(4000);
      // The line carries the measured ratio (about 1: both saw the 2.5 s answers; the tool's own overhead on a
      // busy machine moves it by a few %), never Infinity or a ratio against an unmeasured 0 ms.
      const p99 = cc.p99Ms as number;
      const line = describeAgreement(agreementOf(cc, 2510, 4));
      expect(line).toContain(`ratio ${Math.round((2510 / p99) * 100) / 100};`);
      expect(line).toContain(`${tool} p99 ${p99.toFixed(2)} ms`);
    },
    30_000,
  );

  it('wrk with a timeout below the answer time reports the timeouts and no p99', async () => {
    const target = await startFakeGateway(2500);
    const cc = await crossCheck(`${target.url}/data`, 10, 3, ['t1'], BODY, { timeoutSec: 1, tools: ['wrk'] });
    if ('error' in cc) throw new Error(cc.error);
    expect(cc.responses).toBe(0);
    expect(cc.timeouts).toBeGreaterThan(0);
    expect(cc.p99Ms).toBeUndefined();
    const agreement = agreementOf(cc, 2510, 4);
    expect(agreement.ratio).toBeUndefined();
    const line = describeAgreement(agreement);
    expect(line).toContain('wrk p99 not measured');
    expect(line).toContain(`${cc.timeouts} timeouts`);
    expect(line).not.toMatch(/p99 0\.00 ms|Infinity/);
    // What report.json keeps (undefined fields dropped) reads the same.
    expect(describeAgreement(JSON.parse(JSON.stringify(agreement)))).toBe(line);
  }, 30_000);
});

describe('tool reports without a latency sample', () => {
  it('wrk: every request timed out', () => {
    const out = [
      '  Latency Distribution',
      '     50%    0.00us',
      '     99%    0.00us',
      '  10 requests in 3.00s, 1.21KB read',
      '  Socket errors: connect 0, read 0, write 0, timeout 10',
      'Requests/sec:      3.33',
    ].join('\n');
    expect(parseWrk(out)).toEqual({
      tool: 'wrk',
      p99Ms: undefined,
      p50Ms: undefined,
      requestsPerSec: 3.33,
      responses: 0,
      timeouts: 10,
      errors: 0,
    });
  });
  it('wrk: socket errors and non-2xx answers count as errors', () => {
    const out = [
      '     99%    5.00ms',
      '  100 requests in 1.00s, 1.21KB read',
      '  Socket errors: connect 2, read 1, write 0, timeout 3',
      '  Non-2xx or 3xx responses: 4',
      'Requests/sec:    100.00',
    ].join('\n');
    expect(parseWrk(out)).toMatchObject({ p99Ms: 5, responses: 97, timeouts: 3, errors: 7 });
  });
  it('hey: every request timed out', () => {
    const out = [
      'Summary:',
      '  Slowest:\t0.0000 secs',
      '  Requests/sec:\t9.9784',
      'Latency distribution:',
      '',
      'Status code distribution:',
      '',
      'Error distribution:',
      '  [30]\tGet "http://127.0.0.1:1/data": context deadline exceeded (Client.Timeout exceeded while awaiting headers)',
    ].join('\n');
    expect(parseHey(out)).toMatchObject({ p99Ms: undefined, responses: 0, timeouts: 30, errors: 0 });
  });
  it('hey: below 100 answers the p99 is the slowest', () => {
    const out = [
      'Summary:',
      '  Slowest:\t2.5137 secs',
      'Latency distribution:',
      '  95% in 2.5137 secs',
      '  0% in 0.0000 secs',
      'Status code distribution:',
      '  [200]\t20 responses',
      '  [503]\t2 responses',
    ].join('\n');
    expect(parseHey(out)).toMatchObject({ p99Ms: 2513.7, responses: 22, errors: 2, timeouts: 0 });
  });
});
