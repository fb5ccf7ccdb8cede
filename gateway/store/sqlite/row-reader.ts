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

/** Up to `maxBytes` of whole rows (at least one readable row if any); `bad` holds the unreadable ones met. */
export function readRows(
  st: Statements,
  codec: Codec,
  token: string,
  tkey: string,
  maxBytes: number,
): { batch: PendingBatch | null; bad: BadRow[] } {
  const ids: number[] = [];
  const parts: string[] = [];
  const bad: BadRow[] = [];
  let bytes = 2;
  let points = 0;
  for (const row of st.peekRows.iterate(tkey) as IterableIterator<{
    id: number;
    payload: Stored;
    bytes: number;
    points: number;
  }>) {
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
