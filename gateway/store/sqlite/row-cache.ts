/**
 * Committed rows kept in memory, per device, so the forwarder's `peek` under steady load is served without
 * reading rows back through SQLite (the main connection's page cache is invalidated by every commit of the
 * commit thread, so each read went to the WAL).
 *
 * The cache owns the `in_index` rule (schema.ts): a device's rows skip the per-device index (`in_index =
 * 0`) only while its whole queue is cached; whatever drops a cached queue first puts its rows into the
 * index (`Indexer`), so a device read from the file is always fully indexed.
 *
 * Invariant: a cached queue is complete — it was started when the device's queue was empty and has followed
 * every committed insert and removal since. One that outgrows the budget, or is found out of step with the
 * ledger, is dropped, and the device is read from the file until its queue next empties.
 */
import type { LedgerEntry, Removed } from './queue-ledger.js';
import { type PackedRow, pendingBatch } from './row-packing.js';

export const DEFAULT_ROW_CACHE_BYTES = 8 * 1024 * 1024;

/** A committed row still held in memory as it was appended. */
interface CachedRow {
  id: number;
  text: string;
  bytes: number;
  points: number;
}

/** One device's whole queue, in id order (`rows` from `start`). */
export interface CachedQueue {
  rows: CachedRow[];
  start: number;
  points: number;
  bytes: number;
}

/** Puts rows back into the per-device index. */
export interface Indexer {
  /** These rows (ids) of a device whose cached queue is dropped. */
  rows(tkey: string, ids: readonly number[]): void;
  /** Every row of one device (a full scan): its cached queue no longer agrees with the file. */
  device(tkey: string): void;
}

export class RowCache {
  private readonly queues = new Map<string, CachedQueue>();
  private bytes = 0;
  /** While set (a reload is due), nothing is served from or added to the cache. */
  suspended = false;

  constructor(
    private readonly maxBytes: number,
    private readonly indexer: Indexer,
  ) {}

  /** Whether a commit's rows for this device will extend a cached queue (so they can skip the index). */
  willCache(tkey: string, queueEmpty: boolean): boolean {
    return this.maxBytes > 0 && !this.suspended && (this.queues.has(tkey) || queueEmpty);
  }

  /**
   * A committed insert of `rows` (ids from `firstId` on: one transaction's AUTOINCREMENT ids are
   * consecutive). `started`: the device's queue was empty, so these rows are all of it. Rows written
   * outside the index (`inIndex` 0) for a queue that is not cached after all (it outgrew the cache, or the
   * cache was dropped while they were being committed) go into the index here.
   */
  inserted(tkey: string, firstId: number, rows: readonly PackedRow[] | undefined, inIndex: 0 | 1, started: boolean) {
    if (started) {
      this.drop(tkey);
      if (rows && this.maxBytes > 0) this.queues.set(tkey, { rows: [], start: 0, points: 0, bytes: 0 });
    }
    const q = this.queues.get(tkey);
    let points = 0;
    let bytes = 0;
    for (const r of rows ?? []) {
      points += r.points;
      bytes += r.bytes;
    }
    if (q && rows && this.bytes + bytes <= this.maxBytes) {
      rows.forEach((r, i) => {
        q.rows.push({ id: firstId + i, text: r.text, bytes: r.bytes, points: r.points });
      });
      q.points += points;
      q.bytes += bytes;
      this.bytes += bytes;
      return;
    }
    this.drop(tkey);
    if (inIndex === 0)
      this.indexer.rows(
        tkey,
        Array.from({ length: rows?.length ?? 0 }, (_, i) => firstId + i),
      );
  }

  /** The device's cached queue, if it is complete and agrees with the ledger. */
  queue(e: LedgerEntry): CachedQueue | undefined {
    const q = this.queues.get(e.tkey);
    if (!q || this.suspended) return undefined;
    if (q.start < q.rows.length && q.rows[q.start]!.id === e.oldestId && q.points === e.count) return q;
    // Out of step with the ledger (should not happen): read from the file from now on.
    this.drop(e.tkey, true);
    return undefined;
  }

  /**
   * Drops a device's cached queue; its rows that skipped the index go into it first: the cached rows' ids,
   * or (`outOfStep`) every row of the device.
   */
  drop(tkey: string, outOfStep = false): void {
    const q = this.queues.get(tkey);
    if (!q) return;
    if (outOfStep) this.indexer.device(tkey);
    else
      this.indexer.rows(
        tkey,
        q.rows.slice(q.start).map((r) => r.id),
      );
    this.bytes -= q.bytes;
    this.queues.delete(tkey);
  }

  /** The ids of every cached row (all outside the per-device index). */
  rowIds(): number[] {
    const ids: number[] = [];
    for (const q of this.queues.values()) for (let i = q.start; i < q.rows.length; i++) ids.push(q.rows[i]!.id);
    return ids;
  }

  /** Forgets every cached queue without indexing (the caller indexes the whole file). */
  clear(): void {
    this.queues.clear();
    this.bytes = 0;
  }

  /**
   * A committed removal from the head of a device's queue: drops those rows, checking them by id when
   * `ids` is given. Any mismatch drops the cached queue instead. Returns the new head id, or undefined if
   * not cached (or now empty).
   */
  removedHead(tkey: string, r: Removed, ids: ReadonlySet<number> | undefined): number | undefined {
    const q = this.queues.get(tkey);
    if (!q) return undefined;
    if (q.start >= q.rows.length || q.rows[q.start]!.id !== r.minId) {
      this.drop(tkey, true);
      return undefined;
    }
    let points = 0;
    let bytes = 0;
    while (points < r.n && q.start < q.rows.length) {
      const row = q.rows[q.start]!;
      if (ids && !ids.has(row.id)) break;
      points += row.points;
      bytes += row.bytes;
      q.start++;
    }
    q.points -= points;
    q.bytes -= bytes;
    this.bytes -= bytes;
    if (points !== r.n || bytes !== r.bytes) {
      this.drop(tkey, true);
      return undefined;
    }
    if (q.start > 64 && q.start * 2 > q.rows.length) {
      q.rows = q.rows.slice(q.start);
      q.start = 0;
    }
    return q.start < q.rows.length ? q.rows[q.start]!.id : undefined;
  }
}

/** `peek` from a device's cached queue: the same rows, in the same order, as reading them from the file. */
export function peekCached(token: string, q: CachedQueue, maxBytes: number) {
  const ids: number[] = [];
  const parts: string[] = [];
  let bytes = 2;
  let points = 0;
  for (let i = q.start; i < q.rows.length; i++) {
    const row = q.rows[i]!;
    if (ids.length > 0 && bytes + row.bytes > maxBytes) break;
    ids.push(row.id);
    parts.push(row.text);
    bytes += row.bytes;
    points += row.points;
  }
  return pendingBatch(token, ids, parts, points, bytes);
}
