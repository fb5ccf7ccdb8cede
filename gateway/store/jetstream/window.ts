/**
 * The points a cluster node holds to forward: the messages its partitions' consumers delivered and the
 * forwarders have not yet acknowledged or dead-lettered, by queue key, in stream order. The forwarders read
 * the PointQueue from here exactly as from the SQLite store's index: per key in order, oldest key first.
 *
 * Invariants:
 * - An entry is a stream message (its stream sequence is its id); it is added once, however often the
 *   server redelivers it, and leaves only through `remove` or when its partition is dropped.
 * - Per key, entries are kept in stream-sequence order: a partition's consumer delivers in that order, and a
 *   key lives in exactly one partition.
 */
import type { DataRecord } from '../../model.js';
import type { KeyFilter, PendingBatch, QueueShare } from '../store.js';

export interface WindowEntry {
  seq: number;
  key: string;
  partition: number;
  /** The records' JSON objects joined by commas (a slice of the array the forwarder sends). */
  text: string;
  points: number;
  /** text bytes + 1: its share of a forwarded array, as `store.maxBytes` counts it. */
  bytes: number;
  appendedAt: number;
}

interface KeyQueue {
  entries: WindowEntry[];
  bytes: number;
}

export class ForwardWindow {
  private readonly byKey = new Map<string, KeyQueue>();
  private readonly bySeq = new Map<number, WindowEntry>();
  private points = 0;
  private bytes = 0;

  get size(): number {
    return this.bySeq.size;
  }

  get totalPoints(): number {
    return this.points;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  has(seq: number): boolean {
    return this.bySeq.has(seq);
  }

  get(seq: number): WindowEntry | undefined {
    return this.bySeq.get(seq);
  }

  /** False when the entry was already held (a redelivery). */
  add(entry: WindowEntry): boolean {
    if (this.bySeq.has(entry.seq)) return false;
    let q = this.byKey.get(entry.key);
    if (!q) {
      q = { entries: [], bytes: 0 };
      this.byKey.set(entry.key, q);
    }
    const last = q.entries[q.entries.length - 1];
    if (last && last.seq > entry.seq) {
      // Out of order only if the server redelivered an older message after a newer one: keep stream order.
      const at = q.entries.findIndex((e) => e.seq > entry.seq);
      q.entries.splice(at, 0, entry);
    } else {
      q.entries.push(entry);
    }
    q.bytes += entry.bytes;
    this.bySeq.set(entry.seq, entry);
    this.points += entry.points;
    this.bytes += entry.bytes;
    return true;
  }

  /** Removes the entries; returns those that were held. */
  remove(seqs: readonly number[]): WindowEntry[] {
    const gone: WindowEntry[] = [];
    for (const seq of seqs) {
      const e = this.bySeq.get(seq);
      if (!e) continue;
      this.bySeq.delete(seq);
      const q = this.byKey.get(e.key);
      if (q) {
        const i = q.entries.indexOf(e);
        if (i >= 0) q.entries.splice(i, 1);
        q.bytes -= e.bytes;
        if (q.entries.length === 0) this.byKey.delete(e.key);
      }
      this.points -= e.points;
      this.bytes -= e.bytes;
      gone.push(e);
    }
    return gone;
  }

  /** Drops every entry of a partition this node no longer owns (another node will deliver them). */
  dropPartition(partition: number): number {
    const seqs = [...this.bySeq.values()].filter((e) => e.partition === partition).map((e) => e.seq);
    return this.remove(seqs).length;
  }

  /** Keys with entries, the one holding the oldest entry first. */
  pendingKeys(limit: number, exclude?: ReadonlySet<string>, owns?: KeyFilter): string[] {
    const heads: Array<[number, string]> = [];
    for (const [key, q] of this.byKey) {
      if (exclude?.has(key) || (owns && !owns(key))) continue;
      heads.push([(q.entries[0] as WindowEntry).seq, key]);
    }
    heads.sort((a, b) => a[0] - b[0]);
    return heads.slice(0, limit).map(([, k]) => k);
  }

  pendingBytes(key: string): number {
    return this.byKey.get(key)?.bytes ?? 0;
  }

  /** The oldest entries of a key up to `maxBytes` of JSON array (at least one entry). */
  peek(key: string, maxBytes: number): PendingBatch | null {
    const q = this.byKey.get(key);
    if (!q || q.entries.length === 0) return null;
    const taken: WindowEntry[] = [];
    // The array's bytes: its brackets, each entry's text and the commas between them.
    let bytes = 1;
    for (const e of q.entries) {
      if (taken.length > 0 && bytes + e.bytes > maxBytes) break;
      taken.push(e);
      bytes += e.bytes;
    }
    const body = `[${taken.map((e) => e.text).join(',')}]`;
    let parsed: Array<{ id: number; records: DataRecord[] }> | undefined;
    const entries = () => {
      parsed ??= taken.map((e) => ({ id: e.seq, records: JSON.parse(`[${e.text}]`) as DataRecord[] }));
      return parsed;
    };
    return {
      token: key,
      ids: taken.map((e) => e.seq),
      points: taken.reduce((n, e) => n + e.points, 0),
      bytes,
      body,
      get records() {
        return entries().flatMap((e) => e.records);
      },
      get entries() {
        return entries();
      },
    };
  }

  share(owns: KeyFilter, now: number): QueueShare {
    let depthPoints = 0;
    let depthBytes = 0;
    let oldest = Number.POSITIVE_INFINITY;
    for (const [key, q] of this.byKey) {
      if (!owns(key)) continue;
      for (const e of q.entries) {
        depthPoints += e.points;
        oldest = Math.min(oldest, e.appendedAt);
      }
      depthBytes += q.bytes;
    }
    return { depthPoints, depthBytes, oldestAgeMs: depthPoints > 0 ? Math.max(0, now - oldest) : 0 };
  }

  oldestAppendedAt(): number | undefined {
    let oldest: number | undefined;
    for (const q of this.byKey.values()) {
      const t = (q.entries[0] as WindowEntry).appendedAt;
      if (oldest === undefined || t < oldest) oldest = t;
    }
    return oldest;
  }
}
