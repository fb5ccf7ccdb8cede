/**
 * TagoIO's record rules (TAGOIO.md §1.3), applied to JSON input and to parser output alike. Each rule
 * has its own message naming the record index, the field, the limit and the value, e.g.
 * `record 3: variable "Temp-1" contains "-" (not allowed: * ? ! < > . - = $ and spaces)`.
 */
import { InvalidBodyError, InvalidRecordError } from '../errors.js';
import type { DataRecord, GeoLocation } from '../model.js';

export const LIMITS = {
  variableChars: 100,
  valueBytes: 6 * 1024,
  unitChars: 25,
  groupChars: 100,
  metadataBytes: 10 * 1024,
} as const;

const FORBIDDEN = /[*?!<>.\-=$\s]/;
const KNOWN = new Set(['variable', 'value', 'unit', 'group', 'serie', 'time', 'location', 'metadata']);

function fail(index: number, message: string): never {
  throw new InvalidRecordError(`record ${index}: ${message}`);
}

function show(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function checkVariable(i: number, v: unknown): string {
  if (v === undefined || v === null || v === '') fail(i, 'variable is required');
  if (typeof v !== 'string') fail(i, `variable must be a string, got ${typeof v}`);
  if (v.length > LIMITS.variableChars) fail(i, `variable is ${v.length} characters (max ${LIMITS.variableChars})`);
  const bad = FORBIDDEN.exec(v);
  if (bad) {
    const ch = /\s/.test(bad[0]) ? 'a space' : `"${bad[0]}"`;
    fail(i, `variable ${show(v)} contains ${ch} (not allowed: * ? ! < > . - = $ and spaces)`);
  }
  return v.toLowerCase();
}

function checkValue(i: number, v: unknown): string | number | boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) fail(i, `value must be a finite number, got ${show(v)}`);
    return v;
  }
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const bytes = Buffer.byteLength(v);
    if (bytes > LIMITS.valueBytes) fail(i, `value is ${bytes} bytes (max ${LIMITS.valueBytes})`);
    return v;
  }
  return fail(i, `value must be a string, number or boolean, got ${Array.isArray(v) ? 'array' : typeof v}`);
}

function checkShortString(i: number, field: string, v: unknown, max: number): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') v = String(v);
  if (typeof v !== 'string') fail(i, `${field} must be a string, got ${typeof v}`);
  if (v.length > max) fail(i, `${field} is ${v.length} characters (max ${max})`);
  return v;
}

function isLat(n: unknown): n is number {
  return typeof n === 'number' && Number.isFinite(n) && n >= -90 && n <= 90;
}
function isLng(n: unknown): n is number {
  return typeof n === 'number' && Number.isFinite(n) && n >= -180 && n <= 180;
}

function checkLocation(i: number, v: unknown): GeoLocation | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) fail(i, 'location must be {lat, lng} or a GeoJSON point');
  const o = v as Record<string, unknown>;
  if ('lat' in o || 'lng' in o) {
    if (!isLat(o.lat)) fail(i, `location.lat must be a number from -90 to 90, got ${show(o.lat)}`);
    if (!isLng(o.lng)) fail(i, `location.lng must be a number from -180 to 180, got ${show(o.lng)}`);
    return { lat: o.lat, lng: o.lng };
  }
  if (o.type === 'Point' && Array.isArray(o.coordinates) && o.coordinates.length === 2) {
    const [lng, lat] = o.coordinates as unknown[];
    if (!isLng(lng) || !isLat(lat)) fail(i, 'location.coordinates must be [lng, lat] within range');
    return { type: 'Point', coordinates: [lng, lat] };
  }
  return fail(i, 'location must be {lat, lng} or a GeoJSON point {type: "Point", coordinates: [lng, lat]}');
}

/** Accepts ISO 8601 or a Unix epoch (seconds or milliseconds, number or numeric string); returns ISO. */
function checkTime(i: number, v: unknown, arrivedAt: string): string {
  if (v === undefined || v === null || v === '') return arrivedAt;
  let ms: number;
  if (typeof v === 'number' || (typeof v === 'string' && /^\d+(\.\d+)?$/.test(v))) {
    const n = Number(v);
    // Epoch seconds until the year 5138; larger numbers are milliseconds.
    ms = n < 1e11 ? n * 1000 : n;
  } else if (typeof v === 'string') {
    ms = Date.parse(v);
  } else {
    return fail(i, `time must be an ISO 8601 string or a Unix timestamp, got ${typeof v}`);
  }
  if (!Number.isFinite(ms)) fail(i, `time ${show(v)} is not an ISO 8601 date or a Unix timestamp`);
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) fail(i, `time ${show(v)} is out of range`);
  return d.toISOString();
}

function checkMetadata(i: number, v: unknown): Record<string, unknown> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) fail(i, 'metadata must be an object');
  let text: string;
  try {
    text = JSON.stringify(v);
  } catch (err) {
    // Nesting too deep for the stack, or a cycle (possible in parser output): refuse, don't crash.
    return fail(i, `metadata cannot be serialised: ${(err as Error).message}`);
  }
  const bytes = Buffer.byteLength(text);
  if (bytes > LIMITS.metadataBytes) fail(i, `metadata is ${bytes} bytes (max ${LIMITS.metadataBytes})`);
  return v as Record<string, unknown>;
}

/** Validates and normalises one record. `arrivedAt` stamps records without `time`. */
export function validateRecord(raw: unknown, index: number, arrivedAt: string): DataRecord {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    fail(index, `must be an object, got ${raw === null ? 'null' : Array.isArray(raw) ? 'array' : typeof raw}`);
  }
  const r = raw as Record<string, unknown>;
  const out: DataRecord = { variable: checkVariable(index, r.variable), time: checkTime(index, r.time, arrivedAt) };
  const value = checkValue(index, r.value);
  if (value !== undefined) out.value = value;
  const unit = checkShortString(index, 'unit', r.unit, LIMITS.unitChars);
  if (unit !== undefined) out.unit = unit;
  const group = checkShortString(
    index,
    r.group !== undefined ? 'group' : 'serie',
    r.group ?? r.serie,
    LIMITS.groupChars,
  );
  if (group !== undefined) out.group = group;
  const location = checkLocation(index, r.location);
  if (location !== undefined) out.location = location;
  const metadata = checkMetadata(index, r.metadata);
  if (metadata !== undefined) out.metadata = metadata;
  return out;
}

/** Validates a body (one record or an array). An empty array is accepted ("0 Data Added"). */
export function validateRecords(input: unknown, arrivedAt: string): DataRecord[] {
  const list = Array.isArray(input) ? input : [input];
  if (!Array.isArray(input) && (input === null || typeof input !== 'object')) {
    throw new InvalidBodyError('body must be a TagoIO data record or an array of records');
  }
  const out = new Array<DataRecord>(list.length);
  for (let i = 0; i < list.length; i++) out[i] = validateRecord(list[i], i, arrivedAt);
  return out;
}

export const knownRecordFields = KNOWN;
