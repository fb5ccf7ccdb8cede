/**
 * A route's filter and transform, compiled once: which devices and variables it takes, and what it does to
 * each record it carries. Applied at ingest, before the append: a route's queue holds exactly what it
 * delivers, so a redelivery after a crash sends the same bytes and a route never reads what it must not
 * carry (a `location` kept on premises never sits in the cloud route's queue).
 */
import type { RouteConfig } from '../config/routes-schema.js';
import type { DataRecord, Device } from '../model.js';

/** Records as this route carries them, or null when it takes none of them. */
export type RouteSelect = (device: Device, records: DataRecord[]) => DataRecord[] | null;

/** `*` matches any run of characters; everything else is literal. */
function pattern(glob: string): (name: string) => boolean {
  if (!glob.includes('*')) return (name) => name === glob;
  const re = new RegExp(`^${glob.split('*').map(escapeRegExp).join('.*')}$`);
  return (name) => re.test(name);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function compileSelect(route: Pick<RouteConfig, 'filter' | 'transform'>): RouteSelect | null {
  const f = route.filter;
  const t = route.transform;
  const names = f?.devices ? new Set(f.devices) : null;
  const tags = f?.tags ?? null;
  // Variables are stored lower-case (TagoIO's rule), so the patterns are compared lower-case too.
  const variables = f?.variables?.map((v) => pattern(v.toLowerCase())) ?? null;
  const drop = t?.dropFields ?? [];
  const rename = new Map(Object.entries(t?.renameVariables ?? {}).map(([a, b]) => [a.toLowerCase(), b]));
  if (!names && !tags && !variables && drop.length === 0 && rename.size === 0) return null;

  const takesDevice = (d: Device): boolean => {
    if (!names && !tags) return true;
    if (names && (names.has(d.name) || names.has(d.id))) return true;
    return tags?.some((w) => d.tags.some((h) => h.key === w.key && h.value === w.value)) ?? false;
  };
  return (device, records) => {
    if (!takesDevice(device)) return null;
    const out: DataRecord[] = [];
    for (const r of records) {
      if (variables && !variables.some((m) => m(r.variable))) continue;
      if (drop.length === 0 && rename.size === 0) {
        out.push(r);
        continue;
      }
      const c = { ...r } as Record<string, unknown>;
      for (const k of drop) delete c[k];
      const to = rename.get(r.variable);
      if (to !== undefined) c.variable = to;
      out.push(c as unknown as DataRecord);
    }
    return out.length > 0 ? out : null;
  };
}
