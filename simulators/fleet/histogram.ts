/**
 * The one HdrHistogram builder of the simulators, the load-test gate and the bench: microseconds,
 * 3 significant digits, up to one hour (larger values are clamped, never dropped), JavaScript (not
 * WebAssembly) buckets; and its percentile summary in milliseconds. Encoded as compressed base64 in the
 * fleet's summary so shards merge exactly. It lives here, below loadtests/ in the import graph, because the
 * fleet records with it and loadtests/ drives the fleet.
 */
import type { Histogram } from 'hdr-histogram-js';
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import type { LatencySummary } from './types.js';

const HIGHEST_US = 3_600_000_000;

/** A histogram of values from 1 to `highest` (default one hour in µs; callers recording ms pass their own). */
export function newHistogram(highest: number = HIGHEST_US): Histogram {
  return build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: highest,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });
}

export function recordMs(h: Histogram, ms: number): void {
  h.recordValue(Math.min(HIGHEST_US, Math.max(1, Math.round(ms * 1000))));
}

const ms = (us: number): number => Math.round(us) / 1000;

export function summarize(h: Histogram): LatencySummary {
  if (h.totalCount === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
  return {
    count: h.totalCount,
    mean: ms(h.mean),
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
  };
}

export function encode(h: Histogram): string {
  return encodeIntoCompressedBase64(h);
}

/** Add encoded histograms into one. */
export function mergeEncoded(encoded: readonly string[]): Histogram {
  const out = newHistogram();
  for (const e of encoded) out.add(decodeFromCompressedBase64(e));
  return out;
}
