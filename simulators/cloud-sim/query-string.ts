/**
 * The query-string forms TagoIO clients send for arrays, reduced to one shape: `name → values[]`.
 *   variable=a                      plain
 *   variable=a&variable=b           repeated
 *   variables[]=a&variables[]=b     brackets
 *   variables[0]=a&variables[1]=b   indices (the official SDK serialises with `qs`, indices first)
 * Indexed values come back in index order. Nested objects (`a[b][c]=`) are not part of TagoIO's
 * device API and are kept under their top-level name.
 */
export type QueryParams = Map<string, string[]>;

export function parseQuery(search: string): QueryParams {
  const indexed = new Map<string, Array<[number, number, string]>>(); // name → [index, arrival, value]
  let arrival = 0;
  for (const [rawKey, value] of new URLSearchParams(search)) {
    const open = rawKey.indexOf('[');
    const name = open > 0 ? rawKey.slice(0, open) : rawKey;
    const inner = open > 0 ? rawKey.slice(open + 1, rawKey.indexOf(']', open)) : '';
    // Plain, repeated and `[]` entries keep arrival order; `[N]` entries sort by N among them.
    const index = /^\d+$/.test(inner) ? Number(inner) : Number.POSITIVE_INFINITY;
    const list = indexed.get(name) ?? [];
    list.push([index, arrival++, value]);
    indexed.set(name, list);
  }
  const out: QueryParams = new Map();
  for (const [name, list] of indexed) {
    list.sort((x, y) => (x[0] === y[0] ? x[1] - y[1] : x[0] < y[0] ? -1 : 1));
    out.set(
      name,
      list.map((e) => e[2]),
    );
  }
  return out;
}

/** All values under any of the given names (e.g. `variable` and `variables`), in order, empty strings dropped. */
export function listParam(q: QueryParams, ...names: string[]): string[] {
  return names.flatMap((n) => q.get(n) ?? []).filter((v) => v !== '');
}

/** The last value under the first present name, or undefined. */
export function oneParam(q: QueryParams, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = q.get(n);
    if (v && v.length > 0) return v[v.length - 1];
  }
  return undefined;
}
