/**
 * Reads a device's oldest rows back from the file (a queue the row cache does not hold), vetting each:
 * an unreadable row is set aside for quarantine instead of blocking the queue.
 */
import type { PendingBatch } from '../store.js';
import type { Codec, Stored } from './codec.js';
import { pendingBatch } from './row-packing.js';
import type { Statements } from './statements.js';

export interface BadRow {
  id: number;
  payload: Stored;
  why: string;
}

interface StoredRow {
  id: number;
  payload: Stored;
  bytes: number;
  points: number;
}

/**
 * The device's rows in id order: those in the per-device index, merged with `unindexed` (rows the commit
 * thread is still putting there, read by id; a row in both is taken once, one that is gone is skipped).
 */
function* deviceRows(st: Statements, tkey: string, unindexed: readonly number[] | undefined): Generator<StoredRow> {
  const indexed = st.peekRows.iterate(tkey) as IterableIterator<StoredRow>;
  if (!unindexed || unindexed.length === 0) {
    yield* indexed;
    return;
  }
  let i = 0;
  let next = indexed.next();
  try {
    for (;;) {
      while (i < unindexed.length && (next.done || unindexed[i]! <= next.value.id)) {
        const id = unindexed[i++]!;
        if (!next.done && id === next.value.id) continue;
        const row = st.rowById.get(id) as (StoredRow & { token: string }) | undefined;
        if (row && row.token === tkey) yield row;
      }
      if (next.done) return;
      yield next.value;
      next = indexed.next();
    }
  } finally {
    indexed.return?.();
  }
}

/**
 * Up to `maxBytes` of whole rows (at least one readable row if any); `bad` holds the unreadable ones met.
 * `skip`: ids being quarantined, not to be read again.
 */
export function readRows(
  st: Statements,
  codec: Codec,
  token: string,
  tkey: string,
  maxBytes: number,
  unindexed?: readonly number[],
  skip?: ReadonlySet<number>,
): { batch: PendingBatch | null; bad: BadRow[] } {
  const ids: number[] = [];
  const parts: string[] = [];
  const bad: BadRow[] = [];
  let bytes = 2;
  let points = 0;
  for (const row of deviceRows(st, tkey, unindexed)) {
    if (skip?.has(row.id)) continue;
    if (ids.length > 0 && bytes + row.bytes > maxBytes) break;
    let json: string;
    try {
      json = codec.openPayload(row.payload, tkey);
      // A row is JSON objects joined by commas, written by append; a cheap shape check catches a damaged
      // plain row without parsing every row on the forwarding path (encrypted rows are authenticated by GCM).
      if (json.charCodeAt(0) !== 0x7b || json.charCodeAt(json.length - 1) !== 0x7d) {
        throw new Error('stored row is not a list of JSON objects');
      }
    } catch (err) {
      bad.push({ id: row.id, payload: row.payload, why: (err as Error).message });
      continue;
    }
    ids.push(row.id);
    parts.push(json);
    bytes += row.bytes;
    points += row.points;
  }
  return { batch: ids.length > 0 ? pendingBatch(token, ids, parts, points, bytes) : null, bad };
}
