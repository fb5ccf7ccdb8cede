/**
 * How an append's records become stored rows: one row per append (the records' JSON objects joined by
 * commas, a slice of the JSON array the forwarder sends), split only when longer than `rowMaxBytes`, so
 * a message of N points costs one insert and one delete, not N. `bytes` counts each point's JSON + 1 (its
 * comma), which is what `store.maxBytes` bounds.
 */

import type { DataRecord } from '../../model.js';
import type { PendingBatch } from '../store.js';

export const DEFAULT_ROW_MAX_BYTES = 16_384;

/** One stored row: the JSON objects of `points` records joined by commas. */
export interface PackedRow {
  text: string;
  points: number;
  /** text bytes + 1 (its share of the forwarded array, comma included) = Σ (record JSON bytes + 1). */
  bytes: number;
}

/** Packs an append's records into rows of at most `maxBytes` each, in order. */
export function packRows(records: readonly unknown[], maxBytes: number): { rows: PackedRow[]; bytes: number } {
  if (records.length === 1) {
    const text = JSON.stringify(records[0]);
    const bytes = Buffer.byteLength(text) + 1;
    return { rows: [{ text, points: 1, bytes }], bytes };
  }
  const jsons = records.map((r) => JSON.stringify(r));
  let chars = jsons.length;
  for (const j of jsons) chars += j.length;
  // UTF-8 needs at most 3 bytes per UTF-16 unit: a short append is one row without measuring each record.
  if (chars * 3 <= maxBytes) {
    const text = jsons.join(',');
    const bytes = Buffer.byteLength(text) + 1;
    return { rows: [{ text, points: jsons.length, bytes }], bytes };
  }
  const rows: PackedRow[] = [];
  let parts: string[] = [];
  let size = 0;
  let total = 0;
  for (const j of jsons) {
    const b = Buffer.byteLength(j) + 1;
    if (parts.length > 0 && size + b > maxBytes) {
      rows.push({ text: parts.join(','), points: parts.length, bytes: size });
      parts = [];
      size = 0;
    }
    parts.push(j);
    size += b;
    total += b;
  }
  rows.push({ text: parts.join(','), points: parts.length, bytes: size });
  return { rows, bytes: total };
}

/** One device's appends in a group commit. */
export interface DeviceGroup {
  token: string;
  tkey: string;
  rows: PackedRow[];
  points: number;
  bytes: number;
}

/**
 * One commit's appends per device, in first-seen order, with each device's rows in append order and
 * consecutive rows merged while they fit `maxBytes`: appends of one device in the same group commit (a busy
 * device, or several messages in flight) share a row, so they cost one insert and one delete between them.
 */
export function groupByDevice(
  batch: ReadonlyArray<{ token: string; tkey: string; rows: readonly PackedRow[]; points: number; bytes: number }>,
  maxBytes: number,
): DeviceGroup[] {
  const groups = new Map<string, DeviceGroup>();
  for (const a of batch) {
    let g = groups.get(a.tkey);
    if (!g) {
      g = { token: a.token, tkey: a.tkey, rows: [], points: 0, bytes: 0 };
      groups.set(a.tkey, g);
    }
    for (const r of a.rows) {
      const last = g.rows[g.rows.length - 1];
      // Joined by one comma: the merged row's bytes are the sum of both (each already counts its comma).
      if (last && last.bytes + r.bytes <= maxBytes) {
        g.rows[g.rows.length - 1] = {
          text: `${last.text},${r.text}`,
          points: last.points + r.points,
          bytes: last.bytes + r.bytes,
        };
      } else g.rows.push(r);
    }
    g.points += a.points;
    g.bytes += a.bytes;
  }
  return [...groups.values()];
}

/**
 * The batch `peek` returns from whole rows: `bytes` is counted 2 for the brackets and one comma per row;
 * the array has one fewer.
 */
export function pendingBatch(
  token: string,
  ids: number[],
  parts: string[],
  points: number,
  bytes: number,
): PendingBatch {
  return {
    token,
    ids,
    points,
    // Parsed only when asked for (tests, tools): the forwarder sends `body` as it is.
    get records(): DataRecord[] {
      return JSON.parse(`[${parts.join(',')}]`) as DataRecord[];
    },
    bytes: bytes - 1,
    body: `[${parts.join(',')}]`,
    get entries() {
      return ids.map((id, i) => ({ id, records: JSON.parse(`[${parts[i]}]`) as DataRecord[] }));
    },
  };
}
