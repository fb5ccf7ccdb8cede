/**
 * What the k6 suites share: the open-model scenario (k6 starts iterations on schedule whether or not earlier
 * ones finished, and counts those it could not start as `dropped_iterations`), the summary trend stats, and
 * the JSON summary file. k6 resolves this relative import when it runs a suite.
 */
import type { Options } from 'k6/options';

export function arrivalScenario(rate: number, duration: string): NonNullable<Options['scenarios']> {
  return {
    ingest: {
      executor: 'constant-arrival-rate',
      rate,
      timeUnit: '1s',
      duration,
      preAllocatedVUs: Math.max(10, Math.ceil(rate / 2)),
      maxVUs: Math.max(100, rate * 4),
    },
  };
}

export const summaryTrendStats = ['min', 'med', 'p(90)', 'p(99)', 'p(99.9)', 'max'];

/** `handleSummary` body: the full summary as JSON in `file`, one line on stdout. */
export function writeSummary(file: string, data: object): Record<string, string> {
  return { [file]: JSON.stringify(data, null, 2), stdout: `summary written to ${file}\n` };
}
