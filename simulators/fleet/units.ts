/** Parsing of human units on the command line: durations (`500ms`, `30s`, `5m`, `1h`; bare = seconds) and rates (`500/s`). */

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;
const FACTOR: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds, or undefined when the text is not a duration. */
export function parseDurationMs(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * FACTOR[m[2] ?? 's']!;
}

/** Per second, from `500`, `500/s` or `30000/m`. */
export function parseRatePerSec(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(?:\/(s|m|h))?$/.exec(text.trim());
  if (!m) return undefined;
  return (Number(m[1]) * 1000) / FACTOR[m[2] ?? 's']!;
}
