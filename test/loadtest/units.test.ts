/** The gate's pure parts: SLO files, the verdict, the parsers of hey/wrk/metrics output, the SVG. */
import { describe, expect, it } from 'vitest';
import { lineChart } from '../../loadtests/report/svg.js';
import { parseMetrics } from '../../loadtests/sampler.js';
import { parseHey, parseWrk, wrkScript } from '../../loadtests/scenarios/cross-check.js';
import { DEFAULT_SLOS, parseSlos } from '../../loadtests/slo.js';
import { check, fmtMs, verdictOf, verdictTable } from '../../loadtests/verdict.js';

describe('SLO file', () => {
  it('overrides a subset, in YAML or JSON', () => {
    expect(parseSlos('latencyP99Ms: 500\n', 'slo.yaml')).toEqual({ ...DEFAULT_SLOS, latencyP99Ms: 500 });
    expect(parseSlos('{"lostMax": 3}', 'slo.json').lostMax).toBe(3);
  });
  it('refuses unknown keys and bad values, naming them', () => {
    expect(() => parseSlos('latencyP99: 500', 'x.yaml')).toThrow(/unknown key "latencyP99"/);
    expect(() => parseSlos('errorRateMax: "1%"', 'x.yaml')).toThrow(/errorRateMax/);
  });
});

describe('verdict', () => {
  it('fails when any check fails; not measured is neither', () => {
    const ok = check('s', 'p99', '< 2000 ms', 12, (v) => v < 2000, fmtMs);
    const bad = check('s', 'p99', '< 2000 ms', 2500, (v) => v < 2000, fmtMs);
    const unknown = check('s', 'lost', '<= 0', undefined, (v) => v <= 0, String);
    expect(unknown.status).toBe('not-measured');
    expect(verdictOf([ok, unknown]).pass).toBe(true);
    const v = verdictOf([ok, bad, unknown]);
    expect(v.pass).toBe(false);
    expect(verdictTable(v)).toContain('VERDICT: FAIL (1 of 3 checks failed)');
    expect(verdictTable(v)).toContain('NOT MEASURED');
  });
});

describe('tool output parsers', () => {
  it('reads hey and wrk percentiles in ms', () => {
    const hey = 'Latency distribution:\n  50% in 0.0067 secs\n  99% in 0.0412 secs\n\nRequests/sec:\t5110.2147\n';
    expect(parseHey(hey)).toMatchObject({ tool: 'hey', p99Ms: 41.2, p50Ms: 6.7, requestsPerSec: 5110.2147 });
    const wrk = '  Latency Distribution\n     50%    3.21ms\n     99%    1.20s\nRequests/sec:  4000.00\n';
    expect(parseWrk(wrk)).toMatchObject({ tool: 'wrk', p99Ms: 1200, p50Ms: 3.21 });
    expect(wrkScript(['a', 'b'], '{"x":1}')).toContain('tokens[(i % #tokens) + 1]');
  });
  it('reads prefixed process metrics and the store depth', () => {
    const text = [
      '# HELP tago_edge_process_cpu_seconds_total x',
      'tago_edge_process_cpu_seconds_total 12.5',
      'tago_edge_process_resident_memory_bytes 104857600',
      'tago_edge_store_depth_points 42',
    ].join('\n');
    expect(parseMetrics(text)).toEqual({ cpuSeconds: 12.5, rssBytes: 104_857_600, depthPoints: 42 });
  });
});

describe('svg', () => {
  it('draws series, bands and references without any script', () => {
    const svg = lineChart({
      title: 'p99 <ms>',
      yLabel: 'ms',
      series: [
        {
          name: 'a',
          points: [
            [0, 1],
            [1000, 10],
            [2000, 100],
          ],
        },
      ],
      bands: [{ name: 'ladder', start: 0, end: 1500 }],
      refs: [{ label: 'SLO', y: 2000 }],
      log: true,
    });
    expect(svg).toContain('<path');
    expect(svg).toContain('p99 &lt;ms&gt;');
    expect(svg).not.toContain('<script');
    expect(lineChart({ title: 'empty', yLabel: 'x', series: [] })).toContain('no data');
  });
});
