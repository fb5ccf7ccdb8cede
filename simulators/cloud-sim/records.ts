/**
 * TagoIO's record rules for POST /data, applied the way the cloud does: `variable` required, at most 100
 * characters, forced to lowercase, none of `* ? ! < > . - = $` or spaces; `value` string/number/boolean up to
 * 6 kB; `unit` ≤ 25; `group` (alias `serie`) ≤ 100; `metadata` object ≤ 10 kB; `location` `{lat, lng}` or a
 * GeoJSON point; `time` ISO 8601 or epoch. One bad record refuses the whole request, so nothing is half
 * stored. Messages name the record index, the field, the limit and the value.
 */

export interface GeoPoint {
  type: 'Point';
  coordinates: [number, number]; // [lng, lat], as TagoIO answers on GET /data
}

export interface StoredRecord {
  id: string;
  device: string;
  variable: string;
  value?: string | number | boolean;
  unit?: string;
  group: string;
  time: string;
  created_at: string;
  location?: GeoPoint;
  metadata?: Record<string, unknown>;
  /** Epoch ms of `time`, kept to filter and sort without re-parsing. Not serialised. */
  timeMs: number;
}

export type InputRecord = Omit<StoredRecord, 'id' | 'device' | 'group' | 'time' | 'created_at' | 'timeMs'> & {
  group?: string;
  timeMs?: number;
};

const FORBIDDEN = /[*?!<>.\-=$\s]/;
const LIMITS = { variable: 100, valueBytes: 6 * 1024, unit: 25, group: 100, metadataBytes: 10 * 1024 };

export class RecordError extends Error {}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Epoch ms from ISO 8601, `2015-11-03 13:44:33`, or a Unix timestamp (seconds below 1e11, else ms). */
export function parseTime(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v < 1e11 ? v * 1000 : v;
  if (typeof v !== 'string') return undefined;
  // A batch's records usually share their time (stamped at one ingest): parse each distinct text once.
  if (v === lastTimeText) return lastTimeMs;
  if (v.trim() === '') return undefined;
  const ms = /^\d+(\.\d+)?$/.test(v) ? parseTime(Number(v)) : Date.parse(v);
  if (ms === undefined || Number.isNaN(ms)) return undefined;
  lastTimeText = v;
  lastTimeMs = ms;
  return ms;
}
let lastTimeText: string | undefined;
let lastTimeMs = 0;

/** `new Date(ms).toISOString()`, remembered for the last instant asked (records of a batch share it). */
export function isoTime(ms: number): string {
  if (ms !== lastIsoMs) {
    lastIsoText = new Date(ms).toISOString();
    lastIsoMs = ms;
  }
  return lastIsoText;
}
let lastIsoMs = Number.NaN;
let lastIsoText = '';

function parseLocation(v: unknown, at: string): GeoPoint {
  if (isObject(v) && typeof v.lat === 'number' && typeof v.lng === 'number') {
    return { type: 'Point', coordinates: [v.lng, v.lat] };
  }
  if (
    isObject(v) &&
    v.type === 'Point' &&
    Array.isArray(v.coordinates) &&
    v.coordinates.length === 2 &&
    v.coordinates.every((c) => typeof c === 'number')
  ) {
    return { type: 'Point', coordinates: [v.coordinates[0] as number, v.coordinates[1] as number] };
  }
  throw new RecordError(`${at}: location must be {lat, lng} or a GeoJSON Point`);
}

export function validateRecord(raw: unknown, index: number): InputRecord {
  const at = `record ${index}`;
  if (!isObject(raw)) throw new RecordError(`${at}: must be an object`);
  const { variable, value, unit, metadata, location, time } = raw;
  const group = raw.group ?? raw.serie;
  if (typeof variable !== 'string' || variable === '') {
    throw new RecordError(`${at}: variable is required and must be a non-empty string`);
  }
  if (variable.length > LIMITS.variable) {
    throw new RecordError(`${at}: variable is ${variable.length} characters (max ${LIMITS.variable})`);
  }
  const bad = FORBIDDEN.exec(variable);
  if (bad) {
    throw new RecordError(
      `${at}: variable ${JSON.stringify(variable)} contains ${JSON.stringify(bad[0])} (not allowed: * ? ! < > . - = $ space)`,
    );
  }
  const out: InputRecord = { variable: variable.toLowerCase() };
  if (value !== undefined && value !== null) {
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new RecordError(`${at}: value must be a string, number or boolean`);
    }
    // UTF-8 takes at most 3 bytes per UTF-16 unit: short strings need no measuring.
    if (
      typeof value === 'string' &&
      value.length * 3 > LIMITS.valueBytes &&
      Buffer.byteLength(value) > LIMITS.valueBytes
    ) {
      throw new RecordError(`${at}: value is ${Buffer.byteLength(value)} bytes (max ${LIMITS.valueBytes})`);
    }
    out.value = value;
  }
  if (unit !== undefined && unit !== null) {
    if (typeof unit !== 'string' || unit.length > LIMITS.unit) {
      throw new RecordError(`${at}: unit must be a string of at most ${LIMITS.unit} characters`);
    }
    out.unit = unit;
  }
  if (group !== undefined && group !== null) {
    if (typeof group !== 'string' || group.length > LIMITS.group) {
      throw new RecordError(`${at}: group must be a string of at most ${LIMITS.group} characters`);
    }
    if (group !== '') out.group = group;
  }
  if (metadata !== undefined && metadata !== null) {
    if (!isObject(metadata)) throw new RecordError(`${at}: metadata must be an object`);
    const size = Buffer.byteLength(JSON.stringify(metadata));
    if (size > LIMITS.metadataBytes) {
      throw new RecordError(`${at}: metadata is ${size} bytes (max ${LIMITS.metadataBytes})`);
    }
    out.metadata = metadata;
  }
  if (location !== undefined && location !== null) out.location = parseLocation(location, at);
  if (time !== undefined && time !== null && time !== '') {
    const ms = parseTime(time);
    if (ms === undefined) throw new RecordError(`${at}: time ${JSON.stringify(time)} is not ISO 8601 or epoch`);
    out.timeMs = ms;
  }
  return out;
}

/** A POST /data body (one record or an array) validated as a whole. */
export function validateBody(body: unknown): InputRecord[] {
  const list = Array.isArray(body) ? body : [body];
  return list.map((r, i) => validateRecord(r, i));
}

/** The JSON TagoIO answers for a stored record: never the internal `timeMs`, `created_at` only with details. */
export function publicRecord(r: StoredRecord, details: boolean): Partial<StoredRecord> {
  const { timeMs: _t, created_at, ...rest } = r;
  return details ? { ...rest, created_at } : rest;
}
