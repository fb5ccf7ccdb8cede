/**
 * The per-device accounting of the queue: depth (points), bytes, the oldest point, and each device's queue
 * head, kept in memory so `stats`, `hasRoom` and `pendingTokens` never query per message.
 *
 * Pure: it learns only what the store tells it (committed inserts and removals, or a full reload from the
 * file) and asks the `HeadLookup` for a new head when a removal took a queue's oldest rows and the row
 * cache could not say which row is next.
 *
 * Invariants: `depthPoints`/`depthBytes` are the sums over `entries`' counts plus any points of devices
 * whose token is unknown (failed authentication: counted, never forwarded); a device is in `entries` exactly
 * while it has pending points; `oldestId` is the smallest pending id (0 when empty).
 */

/** A token's share of what a transaction removed (n counts points, not rows). */
export interface Removed {
  n: number;
  bytes: number;
  minId: number;
}

/** The head of one device's queue. */
export interface LedgerEntry {
  tkey: string;
  oldestId: number;
  count: number;
  bytes: number;
}

/** What a commit inserted for one device. */
export interface Inserted {
  token: string;
  tkey: string;
  firstId: number;
  n: number;
  bytes: number;
}

/** Where the ledger finds a queue's new head after a removal. */
export interface HeadLookup {
  firstOfDevice(tkey: string): number;
  firstOverall(): { id: number; createdAt: number } | undefined;
}

/** Notes one removed row in a per-device tally. */
export function noteRemoved(removed: Map<string, Removed>, tkey: string, points: number, bytes: number, id: number) {
  const r = removed.get(tkey);
  if (r) {
    r.n += points;
    r.bytes += bytes;
    if (id < r.minId) r.minId = id;
  } else removed.set(tkey, { n: points, bytes, minId: id });
}

export class QueueLedger {
  private readonly entries = new Map<string, LedgerEntry>();
  /** token key → token, for every token the file knows (pending or not). */
  readonly tokenOf = new Map<string, string>();
  depthPoints = 0;
  depthBytes = 0;
  private oldestId = 0;
  private oldestAt = 0;

  constructor(private readonly heads: HeadLookup) {}

  /** Forgets everything (before a reload from the file). */
  clear(): void {
    this.entries.clear();
    this.tokenOf.clear();
    this.depthPoints = 0;
    this.depthBytes = 0;
    this.oldestId = 0;
    this.oldestAt = 0;
  }

  /** Reload: the file's totals and one device's head (after `tokenOf` is filled). */
  loadTotals(points: number, bytes: number): void {
    this.depthPoints = points;
    this.depthBytes = bytes;
    const head = this.heads.firstOverall();
    this.oldestId = head?.id ?? 0;
    this.oldestAt = head?.createdAt ?? 0;
  }

  /** Reload: a device's totals and indexed head, then (count 0) a row outside the index that may be older. */
  loadHead(tkey: string, oldestId: number, count: number, bytes: number): void {
    const token = this.tokenOf.get(tkey);
    if (token === undefined) return;
    const e = this.entries.get(token);
    if (!e) this.entries.set(token, { tkey, oldestId, count, bytes });
    else {
      e.count += count;
      e.bytes += bytes;
      if (oldestId < e.oldestId) e.oldestId = oldestId;
    }
  }

  entry(token: string): LedgerEntry | undefined {
    return this.entries.get(token);
  }

  hasQueue(token: string): boolean {
    return this.entries.has(token);
  }

  /** A committed insert; returns true when the device's queue was empty before it (these rows are all of it). */
  inserted(ins: Inserted, at: number): boolean {
    if (this.depthPoints === 0) {
      this.oldestId = ins.firstId;
      this.oldestAt = at;
    }
    this.depthPoints += ins.n;
    this.depthBytes += ins.bytes;
    const e = this.entries.get(ins.token);
    if (e) {
      e.count += ins.n;
      e.bytes += ins.bytes;
      return false;
    }
    this.entries.set(ins.token, { tkey: ins.tkey, oldestId: ins.firstId, count: ins.n, bytes: ins.bytes });
    return true;
  }

  /**
   * Committed removals from the heads of device queues (acks, dead letters and evictions always take a
   * queue's oldest rows). `nextHead(tkey, r)` says the device's new head id when it knows it (the row
   * cache), or undefined; `emptied` is called for a device whose queue is now empty. Returns the points
   * removed.
   */
  removed(
    removed: ReadonlyMap<string, Removed>,
    nextHead: (tkey: string, r: Removed) => number | undefined,
    emptied: (tkey: string) => void,
  ): number {
    let total = 0;
    let headGone = false;
    for (const [tkey, r] of removed) {
      total += r.n;
      this.depthPoints -= r.n;
      this.depthBytes -= r.bytes;
      if (r.minId <= this.oldestId) headGone = true;
      const nextId = nextHead(tkey, r);
      const token = this.tokenOf.get(tkey);
      const e = token === undefined ? undefined : this.entries.get(token);
      if (!e || token === undefined) continue;
      e.count -= r.n;
      e.bytes -= r.bytes;
      if (e.count <= 0) {
        this.entries.delete(token);
        emptied(tkey);
      } else if (r.minId <= e.oldestId) e.oldestId = nextId ?? this.heads.firstOfDevice(tkey);
    }
    if (headGone) {
      const head = this.heads.firstOverall();
      this.oldestId = head?.id ?? 0;
      this.oldestAt = head?.createdAt ?? 0;
    }
    return total;
  }

  /** Tokens with pending points, oldest head first, without those in `exclude`. */
  pendingTokens(limit: number, exclude?: ReadonlySet<string>, owns?: (token: string) => boolean): string[] {
    const out: Array<[string, number]> = [];
    for (const [token, e] of this.entries) {
      if (!exclude?.has(token) && (owns === undefined || owns(token))) out.push([token, e.oldestId]);
    }
    out.sort((a, b) => a[1] - b[1]);
    return out.slice(0, limit).map((o) => o[0]);
  }

  /** Depth, bytes and the age of the oldest point of the queues `owns` takes (one route's). */
  share(
    owns: (token: string) => boolean,
    appendedAt: (id: number) => number | undefined,
    now: number,
  ): { depthPoints: number; depthBytes: number; oldestAgeMs: number } {
    let points = 0;
    let bytes = 0;
    let oldestId = 0;
    for (const [token, e] of this.entries) {
      if (!owns(token)) continue;
      points += e.count;
      bytes += e.bytes;
      if (oldestId === 0 || e.oldestId < oldestId) oldestId = e.oldestId;
    }
    const at = oldestId === 0 ? undefined : appendedAt(oldestId);
    return { depthPoints: points, depthBytes: bytes, oldestAgeMs: at === undefined ? 0 : Math.max(0, now - at) };
  }

  pendingBytes(token: string): number {
    return this.entries.get(token)?.bytes ?? 0;
  }

  /** Milliseconds since the oldest pending point was appended; 0 when empty. */
  oldestAgeMs(now: number): number {
    return this.depthPoints === 0 ? 0 : Math.max(0, now - this.oldestAt);
  }
}
