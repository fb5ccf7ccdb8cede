/**
 * The durable store: SQLite (better-sqlite3, WAL) with group commit.
 *
 * Invariants:
 * - `append` resolves only after the transaction holding its rows has COMMITted (better-sqlite3 is
 *   synchronous: the commit, and with `sync: full` the WAL fsync, has happened when `.run()` returns).
 *   It never resolves for rows that are not in the file. A failed commit rejects every append in it with
 *   StoreWriteError (each is retried alone first, so one bad append does not fail its neighbours).
 * - Per device, points come out of `peek` in id order, which is append order (AUTOINCREMENT ids are never
 *   reused, so a replayed dead letter goes to the back of its device's queue).
 * - A point leaves `points` only through `ack`, `deadLetter` (including a tampered row, quarantined by
 *   `peek`), or a `drop_oldest` eviction published on `events.storeDrop`. Moves to dead letters happen in
 *   one transaction: a point is never in both tables, nor in neither.
 * - `store.maxBytes` bounds committed + queued bytes (`bytes` = JSON length + 1). With `block`, an append
 *   that would exceed it is refused with StoreFullError before anything is written.
 * - depth, bytes, oldest point and per-device queue heads are kept in memory, loaded at open and updated
 *   after each commit, so `stats`, `hasRoom` and `pendingTokens` never query per message. Another
 *   connection's commits (the queue CLI's replay) are picked up by `pendingTokens` via `data_version`.
 */
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { ShuttingDownError, StoreFullError, StoreWriteError } from '../errors.js';
import { events } from '../events.js';
import type { DataRecord } from '../model.js';
import type { Cipher } from './encryption.js';
import { type Codec, codecFor, type Stored } from './sqlite-codec.js';
import { openDatabase } from './sqlite-schema.js';
import { prepareStatements, type Statements } from './sqlite-statements.js';
import type { DeadLetter, DeadLetterInput, PendingBatch, Store, StoreStats } from './store.js';

export interface SqliteStoreOptions {
  path: string;
  sync: 'full' | 'normal';
  groupCommitMs: number;
  maxBytes: number;
  whenFull: 'block' | 'drop_oldest';
  retryAfterSeconds: number;
  cipher?: Cipher | undefined;
  deviceIdOf(token: string): string;
  log?: Logger | undefined;
  busyTimeoutMs?: number;
}

interface QueuedAppend {
  token: string;
  tkey: string;
  jsons: string[];
  /** Bytes of each row in the forwarded array (its JSON plus one comma). */
  sizes: number[];
  bytes: number;
  resolve(): void;
  reject(err: unknown): void;
}

/** The head of one device's queue. */
interface TokenEntry {
  tkey: string;
  oldestId: number;
  count: number;
}

/** What a commit inserted for one device. */
interface Inserted {
  token: string;
  tkey: string;
  firstId: number;
  n: number;
  bytes: number;
}

/** What a transaction removed for one device. */
interface Removed {
  n: number;
  bytes: number;
  minId: number;
}

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly st: Statements;
  private readonly codec: Codec;
  private readonly entries = new Map<string, TokenEntry>();
  private readonly tokenOf = new Map<string, string>();
  private readonly refused = new Set<string>();
  private depthPoints = 0;
  private depthBytes = 0;
  private oldestId = 0;
  private oldestAt = 0;
  private deadCount = 0;
  private dataVersion = 0;
  private queue: QueuedAppend[] = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private closed = false;
  private readonly appendListeners: Array<() => void> = [];
  private readonly spaceListeners: Array<() => void> = [];

  constructor(private readonly opts: SqliteStoreOptions) {
    this.codec = codecFor(opts.cipher);
    this.db = openDatabase({
      path: opts.path,
      sync: opts.sync,
      cipher: opts.cipher,
      ...(opts.busyTimeoutMs !== undefined ? { busyTimeoutMs: opts.busyTimeoutMs } : {}),
    });
    this.st = prepareStatements(this.db);
    this.loadState();
  }

  // ---- append and group commit -------------------------------------------------------------------

  append(token: string, records: DataRecord[]): Promise<void> {
    if (this.closed) return Promise.reject(new ShuttingDownError('store is closed'));
    if (records.length === 0) return Promise.resolve();
    const jsons = records.map((r) => JSON.stringify(r));
    // One comma per row in the forwarded array: counted once here, stored with the row.
    const sizes = jsons.map((j) => Buffer.byteLength(j) + 1);
    let bytes = 0;
    for (const n of sizes) bytes += n;
    if (!this.admits(bytes)) {
      const err = new StoreFullError(
        `store full (${this.depthBytes + this.queuedBytes} of ${this.opts.maxBytes} bytes, ${bytes} more asked)`,
      );
      err.retryAfterSeconds = this.opts.retryAfterSeconds;
      return Promise.reject(err);
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ token, tkey: this.tokenKey(token), jsons, sizes, bytes, resolve, reject });
      this.queuedBytes += bytes;
      this.schedule();
    });
  }

  hasRoom(bytes: number): boolean {
    return this.depthBytes + this.queuedBytes + bytes <= this.opts.maxBytes;
  }

  /** With drop_oldest, committed points can be evicted at commit time; only the queue itself must fit. */
  private admits(bytes: number): boolean {
    if (this.opts.whenFull === 'drop_oldest') return this.queuedBytes + bytes <= this.opts.maxBytes;
    return this.hasRoom(bytes);
  }

  private schedule(): void {
    if (this.timer) return;
    const ms = this.opts.groupCommitMs;
    this.timer = ms > 0 ? setTimeout(() => this.flush(), ms) : setImmediate(() => this.flush());
  }

  /** Commits everything queued in one transaction, then settles the appends' promises. */
  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer as NodeJS.Timeout);
      clearImmediate(this.timer as NodeJS.Immediate);
      this.timer = null;
    }
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    for (const a of batch) this.queuedBytes -= a.bytes;
    try {
      this.commit(batch);
      for (const a of batch) a.resolve();
    } catch (err) {
      if (batch.length === 1) {
        this.failed(batch[0] as QueuedAppend, err);
        return;
      }
      // Retry one by one so a single bad append (or a transient error) does not fail the others.
      for (const a of batch) {
        try {
          this.commit([a]);
          a.resolve();
        } catch (e) {
          this.failed(a, e);
        }
      }
    }
  }

  private failed(a: QueuedAppend, err: unknown): void {
    this.opts.log?.error({ err, deviceId: this.opts.deviceIdOf(a.token) }, 'store: append failed to commit');
    a.reject(new StoreWriteError(`store write failed: ${(err as Error).message}`, { cause: err }));
  }

  private commit(batch: QueuedAppend[]): void {
    const started = performance.now();
    const now = Date.now();
    let rows = 0;
    let bytes = 0;
    for (const a of batch) {
      rows += a.jsons.length;
      bytes += a.bytes;
    }
    const inserted: Inserted[] = [];
    let evicted = new Map<string, Removed>();
    const newTokens: Array<[string, string]> = [];
    this.db.transaction(() => {
      const over = this.depthBytes + bytes - this.opts.maxBytes;
      if (over > 0 && this.opts.whenFull === 'drop_oldest') evicted = this.evict(over);
      const seen = new Set<string>();
      for (const a of batch) {
        if (!this.tokenOf.has(a.tkey) && !seen.has(a.tkey)) {
          this.st.insertToken.run(a.tkey, this.codec.sealToken(a.token, a.tkey));
          seen.add(a.tkey);
          newTokens.push([a.tkey, a.token]);
        }
        let firstId = 0;
        for (let k = 0; k < a.jsons.length; k++) {
          const json = a.jsons[k] as string;
          const id = Number(
            this.st.insertPoint.run(a.tkey, this.codec.sealPayload(json, a.tkey), a.sizes[k], now).lastInsertRowid,
          );
          if (firstId === 0) firstId = id;
        }
        inserted.push({ token: a.token, tkey: a.tkey, firstId, n: a.jsons.length, bytes: a.bytes });
      }
    })();
    // Committed: only now do the in-memory counters move.
    for (const [tkey, token] of newTokens) this.tokenOf.set(tkey, token);
    const dropped = this.afterRemoval(evicted);
    for (const ins of inserted) this.afterInsert(ins, now);
    events.storeCommit.publish({ rows, durationMs: performance.now() - started });
    if (dropped > 0) {
      this.opts.log?.warn({ points: dropped }, 'store: full, dropped the oldest points (whenFull: drop_oldest)');
      events.storeDrop.publish({ reason: 'drop_oldest', points: dropped });
      this.emit(this.spaceListeners);
    }
    this.emit(this.appendListeners);
  }

  /** Deletes the oldest points until `need` bytes are freed (inside the commit's transaction). */
  private evict(need: number): Map<string, Removed> {
    const removed = new Map<string, Removed>();
    let freed = 0;
    while (freed < need) {
      const ids = this.st.oldestIds.all(256) as number[];
      if (ids.length === 0) break;
      for (const id of ids) {
        const row = this.st.deletePoint.get(id) as { token: string; bytes: number } | undefined;
        if (!row) continue;
        note(removed, row.token, id, row.bytes);
        freed += row.bytes;
        if (freed >= need) break;
      }
    }
    return removed;
  }

  // ---- reading and removing ----------------------------------------------------------------------

  pendingTokens(limit: number, exclude?: ReadonlySet<string>): string[] {
    this.refreshIfChangedElsewhere();
    const out: Array<[string, number]> = [];
    for (const [token, e] of this.entries) {
      if (!exclude?.has(token)) out.push([token, e.oldestId]);
    }
    out.sort((a, b) => a[1] - b[1]);
    return out.slice(0, limit).map((o) => o[0]);
  }

  peek(token: string, maxBytes: number): PendingBatch | null {
    for (;;) {
      const e = this.entries.get(token);
      if (!e) return null;
      const ids: number[] = [];
      const parts: string[] = [];
      const bad: Array<{ id: number; payload: Stored; why: string }> = [];
      let bytes = 2;
      for (const row of this.st.peekRows.iterate(e.tkey) as IterableIterator<{
        id: number;
        payload: Stored;
        bytes: number;
      }>) {
        if (ids.length > 0 && bytes + row.bytes > maxBytes) break;
        let json: string;
        try {
          json = this.codec.openPayload(row.payload, e.tkey);
          // A row is one JSON object written by append; a cheap shape check catches a damaged plain row
          // without parsing every row on the forwarding path (encrypted rows are authenticated by GCM).
          if (json.charCodeAt(0) !== 0x7b || json.charCodeAt(json.length - 1) !== 0x7d) {
            throw new Error('stored row is not a JSON object');
          }
        } catch (err) {
          bad.push({ id: row.id, payload: row.payload, why: (err as Error).message });
          continue;
        }
        ids.push(row.id);
        parts.push(json);
        bytes += row.bytes;
      }
      if (bad.length > 0) this.quarantine(token, bad);
      if (ids.length > 0) {
        // bytes counted one comma per row; the array has one fewer.
        return {
          token,
          ids,
          // Parsed only when asked for (tests, tools): the forwarder sends `body` as it is.
          get records(): DataRecord[] {
            return parts.map((p) => JSON.parse(p) as DataRecord);
          },
          bytes: bytes - 1,
          body: `[${parts.join(',')}]`,
        };
      }
      if (bad.length === 0) return null;
    }
  }

  ack(ids: number[]): void {
    if (ids.length === 0) return;
    const removed = new Map<string, Removed>();
    this.withoutSync(() => {
      for (const id of ids) {
        // Only what the counters need: reading the payload back would cost as much as the delete.
        const row = this.st.deletePointMeta.get(id) as { token: string; bytes: number } | undefined;
        if (row) note(removed, row.token, id, row.bytes);
      }
    });
    if (this.afterRemoval(removed) > 0) this.emit(this.spaceListeners);
  }

  /**
   * Runs a transaction whose loss on power failure is harmless: deleting delivered points. Losing it
   * means those points are sent again (at-least-once), never lost, so it skips the WAL fsync and rides on
   * the next ingest commit's (in WAL mode a later synced commit makes every earlier frame durable).
   * Ingest commits keep `store.sync`.
   */
  private withoutSync(fn: () => void): void {
    if (this.opts.sync !== 'full') {
      this.db.transaction(fn)();
      return;
    }
    this.db.pragma('synchronous = NORMAL');
    try {
      this.db.transaction(fn)();
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  deadLetter(ids: number[], reason: string, message: string): void {
    if (ids.length === 0) return;
    const sorted = [...ids].sort((a, b) => a - b);
    const removed = new Map<string, Removed>();
    const perToken = new Map<string, string[]>();
    this.db.transaction(() => {
      for (const id of sorted) {
        const row = this.st.deletePoint.get(id) as { token: string; payload: Stored; bytes: number } | undefined;
        if (!row) continue;
        note(removed, row.token, id, row.bytes);
        let parts = perToken.get(row.token);
        if (!parts) {
          parts = [];
          perToken.set(row.token, parts);
        }
        // peek already vetted these rows; an unreadable one is kept as a JSON string rather than lost.
        try {
          parts.push(this.codec.openPayload(row.payload, row.token));
        } catch {
          parts.push(JSON.stringify({ unreadable: true, id }));
        }
      }
      for (const [tkey, parts] of perToken) {
        const token = this.tokenOf.get(tkey) ?? '';
        const body = `{"token":${JSON.stringify(token)},"message":${JSON.stringify(message)},"records":[${parts.join(',')}]}`;
        this.insertDead(this.opts.deviceIdOf(token), reason, parts.length, body, null);
      }
    })();
    this.afterRemoval(removed);
    for (const [tkey, parts] of perToken) {
      this.deadCount++;
      const deviceId = this.opts.deviceIdOf(this.tokenOf.get(tkey) ?? '');
      events.deadLetter.publish({ deviceId, reason, points: parts.length });
    }
    if (removed.size > 0) this.emit(this.spaceListeners);
  }

  /** Moves unreadable rows (GCM auth failure, invalid JSON) to dead letters so they never block the queue. */
  private quarantine(token: string, bad: Array<{ id: number; payload: Stored; why: string }>): void {
    const removed = new Map<string, Removed>();
    const deviceId = this.opts.deviceIdOf(token);
    this.db.transaction(() => {
      for (const b of bad) {
        const row = this.st.deletePoint.get(b.id) as { token: string; bytes: number } | undefined;
        if (!row) continue;
        note(removed, row.token, b.id, row.bytes);
        const message = `point ${b.id} could not be read back (${b.why}); its stored bytes are kept in dead_letters.raw`;
        const body = `{"token":${JSON.stringify(token)},"message":${JSON.stringify(message)},"records":[]}`;
        const raw = typeof b.payload === 'string' ? Buffer.from(b.payload) : b.payload;
        this.insertDead(deviceId, 'tampered', 1, body, raw);
      }
    })();
    this.afterRemoval(removed);
    for (const b of bad) {
      this.deadCount++;
      this.opts.log?.error({ deviceId, id: b.id, reason: b.why }, 'store: tampered point moved to dead letters');
      events.deadLetter.publish({ deviceId, reason: 'tampered', points: 1 });
    }
    this.emit(this.spaceListeners);
  }

  // ---- dead letters and refused tokens -----------------------------------------------------------

  addDeadLetter(input: DeadLetterInput): void {
    const { token, deviceId, reason, message, records, topic } = input;
    const body = JSON.stringify({ token, message, records, ...(topic !== undefined ? { topic } : {}) });
    this.insertDead(deviceId, reason, records.length, body, null);
    this.deadCount++;
    events.deadLetter.publish({ deviceId, reason, points: records.length });
  }

  private insertDead(deviceId: string, reason: string, points: number, body: string, raw: Buffer | null): void {
    this.st.insertDead.run(deviceId, reason, points, this.codec.sealDeadLetter(body), raw, Date.now());
  }

  private readDead(stored: Stored): { token: string; message: string; records: unknown[]; topic?: string } | null {
    try {
      return JSON.parse(this.codec.openDeadLetter(stored));
    } catch {
      return null;
    }
  }

  listDeadLetters(limit = 100): DeadLetter[] {
    const rows = this.st.listDead.all(limit) as Array<{
      id: number;
      device_id: string;
      reason: string;
      body: Stored;
      created_at: number;
    }>;
    return rows.map((r) => {
      const d = this.readDead(r.body);
      return {
        id: r.id,
        deviceId: r.device_id,
        reason: r.reason,
        message: d?.message ?? '(dead letter unreadable: it failed authentication)',
        records: d?.records ?? [],
        ...(d?.topic !== undefined ? { topic: d.topic } : {}),
        createdAt: new Date(r.created_at).toISOString(),
      };
    });
  }

  /**
   * Appends the dead letters' records as new points (new ids, at the back of each device's queue) and
   * deletes the dead letters, in one transaction. Tampered ones (nothing readable) are kept. An operator
   * action: it is not bounded by `store.maxBytes`.
   */
  replayDeadLetters(ids?: number[]): number {
    type Row = { id: number; reason: string; body: Stored };
    const rows: Row[] = ids
      ? ([...ids].sort((a, b) => a - b).map((id) => this.st.deadById.get(id)) as Array<Row | undefined>).filter(
          (r): r is Row => r !== undefined,
        )
      : (this.st.allDead.all() as Row[]);
    const now = Date.now();
    const inserted: Inserted[] = [];
    const newTokens: Array<[string, string]> = [];
    let points = 0;
    let replayed = 0;
    this.db.transaction(() => {
      for (const r of rows) {
        const d = r.reason === 'tampered' ? null : this.readDead(r.body);
        if (!d || typeof d.token !== 'string' || !Array.isArray(d.records)) continue;
        const tkey = this.tokenKey(d.token);
        if (!this.tokenOf.has(tkey) && !newTokens.some(([k]) => k === tkey)) {
          this.st.insertToken.run(tkey, this.codec.sealToken(d.token, tkey));
          newTokens.push([tkey, d.token]);
        }
        let firstId = 0;
        let bytes = 0;
        for (const rec of d.records) {
          const json = JSON.stringify(rec);
          const b = Buffer.byteLength(json) + 1;
          const id = Number(this.st.insertPoint.run(tkey, this.codec.sealPayload(json, tkey), b, now).lastInsertRowid);
          if (firstId === 0) firstId = id;
          bytes += b;
        }
        this.st.deleteDead.run(r.id);
        replayed++;
        points += d.records.length;
        if (d.records.length > 0) inserted.push({ token: d.token, tkey, firstId, n: d.records.length, bytes });
      }
    })();
    for (const [tkey, token] of newTokens) this.tokenOf.set(tkey, token);
    for (const ins of inserted) this.afterInsert(ins, now);
    this.deadCount -= replayed;
    if (points > 0) this.emit(this.appendListeners);
    return points;
  }

  refuseToken(token: string): void {
    if (this.refused.has(token)) return;
    const tkey = this.tokenKey(token);
    this.st.insertRefused.run(tkey, this.codec.sealToken(token, tkey));
    this.refused.add(token);
  }

  refusedTokens(): string[] {
    return [...this.refused];
  }

  // ---- counters ----------------------------------------------------------------------------------

  stats(): StoreStats {
    return {
      depthPoints: this.depthPoints,
      depthBytes: this.depthBytes,
      oldestAgeMs: this.depthPoints === 0 ? 0 : Math.max(0, Date.now() - this.oldestAt),
      deadLetters: this.deadCount,
      maxBytes: this.opts.maxBytes,
    };
  }

  private afterInsert(ins: Inserted, at: number): void {
    if (this.depthPoints === 0) {
      this.oldestId = ins.firstId;
      this.oldestAt = at;
    }
    this.depthPoints += ins.n;
    this.depthBytes += ins.bytes;
    const e = this.entries.get(ins.token);
    if (e) e.count += ins.n;
    else this.entries.set(ins.token, { tkey: ins.tkey, oldestId: ins.firstId, count: ins.n });
  }

  /** Applies committed deletions to the counters; returns the number of points removed. */
  private afterRemoval(removed: Map<string, Removed>): number {
    let total = 0;
    let headGone = false;
    for (const [tkey, r] of removed) {
      total += r.n;
      this.depthPoints -= r.n;
      this.depthBytes -= r.bytes;
      if (r.minId <= this.oldestId) headGone = true;
      const token = this.tokenOf.get(tkey);
      const e = token === undefined ? undefined : this.entries.get(token);
      if (!e || token === undefined) continue;
      e.count -= r.n;
      if (e.count <= 0) this.entries.delete(token);
      else if (r.minId <= e.oldestId) e.oldestId = this.st.firstOfToken.get(tkey) as number;
    }
    if (headGone) {
      const head = this.st.firstOverall.get() as { id: number; created_at: number } | undefined;
      this.oldestId = head?.id ?? 0;
      this.oldestAt = head?.created_at ?? 0;
    }
    return total;
  }

  /** (Re)builds every in-memory counter from the file: at open, and after another connection wrote. */
  private loadState(): void {
    this.entries.clear();
    this.tokenOf.clear();
    this.refused.clear();
    for (const r of this.st.allTokens.all() as Array<{ tkey: string; token: Stored }>) {
      try {
        this.tokenOf.set(r.tkey, this.codec.openToken(r.token, r.tkey));
      } catch {
        this.opts.log?.error('store: a device token failed authentication; its points cannot be forwarded');
      }
    }
    const totals = this.st.totals.get() as { n: number; bytes: number };
    this.depthPoints = totals.n;
    this.depthBytes = totals.bytes;
    for (const r of this.st.heads.all() as Array<{ tkey: string; oldestId: number; n: number }>) {
      const token = this.tokenOf.get(r.tkey);
      if (token !== undefined) this.entries.set(token, { tkey: r.tkey, oldestId: r.oldestId, count: r.n });
    }
    const head = this.st.firstOverall.get() as { id: number; created_at: number } | undefined;
    this.oldestId = head?.id ?? 0;
    this.oldestAt = head?.created_at ?? 0;
    this.deadCount = this.st.deadCount.get() as number;
    for (const r of this.st.allRefused.all() as Array<{ tkey: string; token: Stored }>) {
      try {
        this.refused.add(this.codec.openToken(r.token, r.tkey));
      } catch {
        this.opts.log?.error('store: a refused token failed authentication; ignored');
      }
    }
    this.dataVersion = this.st.dataVersion.get() as number;
  }

  /** PRAGMA data_version changes only when another connection commits (e.g. `tago-edge queue replay`). */
  private refreshIfChangedElsewhere(): void {
    const v = this.st.dataVersion.get() as number;
    if (v !== this.dataVersion) this.loadState();
  }

  private tokenKey(token: string): string {
    return this.codec.tokenKey(token);
  }

  // ---- listeners and lifecycle -------------------------------------------------------------------

  onAppend(listener: () => void): void {
    this.appendListeners.push(listener);
  }

  onSpace(listener: () => void): void {
    this.spaceListeners.push(listener);
  }

  private emit(listeners: Array<() => void>): void {
    for (const l of listeners) {
      try {
        l();
      } catch (err) {
        this.opts.log?.error({ err }, 'store: listener threw');
      }
    }
  }

  /** Commits what is queued (those appends resolve), then closes the file. Later appends are refused. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.flush();
    this.db.close();
  }
}

function note(removed: Map<string, Removed>, tkey: string, id: number, bytes: number): void {
  const r = removed.get(tkey);
  if (r) {
    r.n++;
    r.bytes += bytes;
    if (id < r.minId) r.minId = id;
  } else {
    removed.set(tkey, { n: 1, bytes, minId: id });
  }
}
