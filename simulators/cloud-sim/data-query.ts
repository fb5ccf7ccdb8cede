import { listParam, oneParam, type QueryParams } from './query-string.js';
import { parseTime, type StoredRecord } from './records.js';

/**
 * GET /data, TagoIO's query forms over the kept records of one device:
 *   filters   variable|variables, group|groups|serie|series, ids, values, start_date/end_date (ISO, epoch or
 *             relative like "1 day")
 *   default   qty (15), skip, ordination (descending by time, the default, or ascending)
 *   details   true adds `created_at` (handled in data-routes.ts)
 *   query=    last_item|last_insert (last stored), first_item|first_insert, last_value|first_value (by time,
 *             with a value), last_location|first_location, count (a number), min|max (numeric value)
 * Unknown `query` values answer 400 like TagoIO does for an invalid query.
 */
export class QueryError extends Error {}

const UNITS_MS: Record<string, number> = {
  second: 1000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
  week: 604_800_000,
  month: 2_592_000_000, // 30 days
  year: 31_536_000_000, // 365 days
};

function parseDate(v: string, name: string, nowMs: number): number {
  const rel = /^(\d+)\s*(second|minute|hour|day|week|month|year)s?$/i.exec(v.trim());
  if (rel) return nowMs - Number(rel[1]) * (UNITS_MS[rel[2]!.toLowerCase()] ?? 0);
  const ms = parseTime(v);
  if (ms === undefined) throw new QueryError(`${name}: ${JSON.stringify(v)} is not a date`);
  return ms;
}

function nonNegativeInt(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new QueryError(`${name}: expected a non-negative integer, got ${v}`);
  return n;
}

function byTime(ascending: boolean): (a: StoredRecord, b: StoredRecord) => number {
  // Ties keep arrival order (the sort is stable), reversed when descending.
  return ascending ? (a, b) => a.timeMs - b.timeMs : (a, b) => b.timeMs - a.timeMs;
}

export function queryData(records: readonly StoredRecord[], q: QueryParams, nowMs: number): StoredRecord[] | number {
  const variables = new Set(listParam(q, 'variable', 'variables').map((v) => v.toLowerCase()));
  const groups = new Set(listParam(q, 'group', 'groups', 'serie', 'series'));
  const ids = new Set(listParam(q, 'ids', 'id'));
  const values = new Set(listParam(q, 'values', 'value'));
  const start = oneParam(q, 'start_date');
  const end = oneParam(q, 'end_date');
  const startMs = start === undefined ? undefined : parseDate(start, 'start_date', nowMs);
  const endMs = end === undefined ? undefined : parseDate(end, 'end_date', nowMs);

  const matched = records.filter(
    (r) =>
      (variables.size === 0 || variables.has(r.variable)) &&
      (groups.size === 0 || groups.has(r.group)) &&
      (ids.size === 0 || ids.has(r.id)) &&
      (values.size === 0 || (r.value !== undefined && values.has(String(r.value)))) &&
      (startMs === undefined || r.timeMs >= startMs) &&
      (endMs === undefined || r.timeMs <= endMs),
  );

  const query = oneParam(q, 'query') ?? 'default';
  const pick = (list: StoredRecord[]): StoredRecord[] => (list.length > 0 ? [list[0]!] : []);
  switch (query) {
    case 'default': {
      const qty = nonNegativeInt(oneParam(q, 'qty'), 'qty', 15);
      const skip = nonNegativeInt(oneParam(q, 'skip'), 'skip', 0);
      const ascending = oneParam(q, 'ordination') === 'ascending';
      const sorted = ascending ? [...matched].sort(byTime(true)) : [...matched].reverse().sort(byTime(false));
      return sorted.slice(skip, skip + qty);
    }
    case 'count':
      return matched.length;
    case 'last_item':
    case 'last_insert':
      return pick([...matched].reverse());
    case 'first_item':
    case 'first_insert':
      return pick(matched);
    case 'last_value':
      return pick(
        [...matched]
          .reverse()
          .filter((r) => r.value !== undefined)
          .sort(byTime(false)),
      );
    case 'first_value':
      return pick(matched.filter((r) => r.value !== undefined).sort(byTime(true)));
    case 'last_location':
      return pick(
        [...matched]
          .reverse()
          .filter((r) => r.location !== undefined)
          .sort(byTime(false)),
      );
    case 'first_location':
      return pick(matched.filter((r) => r.location !== undefined).sort(byTime(true)));
    case 'min':
    case 'max': {
      const numeric = matched.filter((r) => typeof r.value === 'number');
      const sign = query === 'min' ? 1 : -1;
      return pick(numeric.sort((a, b) => sign * ((a.value as number) - (b.value as number))));
    }
    default:
      throw new QueryError(`query: ${JSON.stringify(query)} is not supported by the simulator`);
  }
}
