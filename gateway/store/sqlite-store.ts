/**
 * The durable store: SQLite (better-sqlite3, WAL) with group commit on a worker thread.
 *
 * Invariants:
 * - `append` resolves only after the transaction holding its rows has COMMITted on the commit thread
 *   (`commit-thread.ts`: its own connection; with `sync: full` the WAL fsync has happened when it answers).
 *   It never resolves for rows that are not in the file. One group commit runs at a time; the event loop
 *   goes on taking messages meanwhile, and they go in the next. A failed commit rejects every append in it with
 *   StoreWriteError (each is retried alone first, so one bad append does not fail its neighbours).
 * - One row per append (split into rows of at most `rowMaxBytes` when longer), so a message of N points
 *   costs one insert and one delete, not N. `bytes`/`maxBytes` still count each point's JSON + 1.
 * - Per device, points come out of `peek` in id order, which is append order (AUTOINCREMENT ids are never
 *   reused, so a replayed dead letter goes to the back of its device's queue). `peek` takes whole rows.
 * - A point leaves `points` only through `ack`, `deadLetter` (including a tampered row, quarantined by
 *   `peek`), or a `drop_oldest` eviction published on `events.storeDrop`. Moves to dead letters happen in
 *   one transaction: a point is never in both tables, nor in neither.
 * - `store.maxBytes` bounds committed + queued bytes (`bytes` = JSON length + 1). With `block`, an append
 *   that would exceed it is refused with StoreFullError before anything is written.
 * - depth, bytes, oldest point and per-device queue heads are kept in memory, loaded at open and updated
 *   after each commit, so `stats`, `hasRoom` and `pendingTokens` never query per message. Another
 *   process's writes (the queue CLI's replay) are picked up by `pendingTokens` (`data_version`, then the
 *   `meta.writes` counter every main-connection write bumps and the commit thread never does).
 */
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { ShuttingDownError, StoreFullError, StoreWriteError } from '../errors.js';
import { events } from '../events.js';
import type { DataRecord } from '../model.js';
import { type CommitJob, type CommitResult, CommitThread, type Removed } from './commit-thread.js';
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
  /** Largest row an append is packed into (a single bigger record is a row of its own); default 16 KiB. */
  rowMaxBytes?: number;
  /** Committed rows kept in memory for `peek` (bytes as `store.maxBytes` counts them); default 8 MiB, 0 = none. */
  rowCacheBytes?: number;
}

export const DEFAULT_ROW_MAX_BYTES = 16_384;
export const DEFAULT_ROW_CACHE_BYTES = 8 * 1024 * 1024;
/**
 * Appends that make a group worth committing without waiting out `groupCommitMs`: more than the HTTP closed
 * loop gathers between commits (~50 at 100 connections), fewer than a parser batch brings at once (~175).
 */
export const FULL_GROUP_APPENDS = 128;

/** One stored row: the JSON objects of `points` records joined by commas. */
interface PackedRow {
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

interface QueuedAppend {
  token: string;
  tkey: string;
  rows: PackedRow[];
  points: number;
  bytes: number;
  resolve(): void;
  reject(err: unknown): void;
}

interface QueuedAck {
  ids: number[];
  resolve(): void;
  reject(err: unknown): void;
}

/** A committed row still held in memory as it was appended, so `peek` need not read it back. */
interface CachedRow {
  id: number;
  text: string;
  bytes: number;
  points: number;
}

/**
 * One device's whole queue in memory, in id order (`rows` from `start`): kept only while it is complete,
 * i.e. it was started when the device's queue was empty and has followed every insert and removal since.
 */
interface CachedQueue {
  rows: CachedRow[];
  start: number;
  points: number;
  bytes: number;
}

/** The head of one device's queue. */
interface TokenEntry {
  tkey: string;
  oldestId: number;
  count: number;
  bytes: number;
}

/** What a commit inserted for one device. */
interface Inserted {
  token: string;
  tkey: string;
  firstId: number;
  n: number;
  bytes: number;
  /** The rows' `in_index`: 0 when they were written for a cached queue (sqlite-schema.ts). */
  inIndex: 0 | 1;
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
  /** The `meta.writes` value this store last accounted for (see refreshIfChangedElsewhere). */
  private writesSeen = 0;
  /** Another process wrote while a commit was in flight: reload the counters once it has been applied. */
  private reloadPending = false;
  /** Started on the first commit, so a store that is only read (the queue CLI) never starts it. */
  private thread: CommitThread | null = null;
  /**
   * The group commit on the commit thread (one at a time: two in flight measured no faster and made a
   * quarter more commits); what queues meanwhile goes in the next.
   */
  private committing: Promise<void> | null = null;
  private queue: QueuedAppend[] = [];
  private ackQueue: QueuedAck[] = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private timerIsImmediate = false;
  /** When the oldest queued append or ack was queued (performance.now()). */
  private queuedSince = 0;
  private closed = false;
  private readonly rowMaxBytes: number;
  /**
   * Per token key, the device's queue as committed by this store, while it fits `rowCacheBytes`: under
   * steady load the forwarder's `peek` is served from here instead of reading rows back through SQLite
   * (the main connection's page cache is invalidated by every commit of the commit thread, so each read
   * went to the WAL). A device whose queue outgrows the budget, or that another connection wrote to, is
   * read from the file until its queue next empties.
   */
  private readonly cache = new Map<string, CachedQueue>();
  private cacheBytes = 0;
  private readonly cacheMaxBytes: number;
  private readonly appendListeners: Array<() => void> = [];
  private readonly spaceListeners: Array<() => void> = [];

  constructor(private readonly opts: SqliteStoreOptions) {
    this.codec = codecFor(opts.cipher);
    this.rowMaxBytes = opts.rowMaxBytes ?? DEFAULT_ROW_MAX_BYTES;
    this.cacheMaxBytes = opts.rowCacheBytes ?? DEFAULT_ROW_CACHE_BYTES;
    this.db = openDatabase({
      path: opts.path,
      sync: opts.sync,
      cipher: opts.cipher,
      ...(opts.busyTimeoutMs !== undefined ? { busyTimeoutMs: opts.busyTimeoutMs } : {}),
    });
    this.st = prepareStatements(this.db);
    this.st.ensureWrites.run();
    this.loadState();
  }

  // ---- append and group commit -------------------------------------------------------------------

  append(token: string, records: DataRecord[]): Promise<void> {
    if (this.closed) return Promise.reject(new ShuttingDownError('store is closed'));
    if (records.length === 0) return Promise.resolve();
    const { rows, bytes } = packRows(records, this.rowMaxBytes);
    if (!this.admits(bytes)) {
      const err = new StoreFullError(
        `store full (${this.depthBytes + this.queuedBytes} of ${this.opts.maxBytes} bytes, ${bytes} more asked)`,
      );
      err.retryAfterSeconds = this.opts.retryAfterSeconds;
      return Promise.reject(err);
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ token, tkey: this.tokenKey(token), rows, points: records.length, bytes, resolve, reject });
      this.queuedBytes += bytes;
      this.queued();
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

  private queued(): void {
    if (this.queue.length + this.ackQueue.length === 1) this.queuedSince = performance.now();
    if (this.queue.length === FULL_GROUP_APPENDS && this.timer !== null && !this.timerIsImmediate) {
      // A full group need not wait for more: `schedule` sends it at the end of this event-loop turn, with
      // whatever else this turn appends (a parser batch's messages arrive together; frame path +3 %).
      clearTimeout(this.timer as NodeJS.Timeout);
      this.timer = null;
    }
    this.schedule();
  }

  /**
   * With no commit in flight, the commit starts `groupCommitMs` after the oldest queued item was queued.
   * While one is in flight, what queues meanwhile is the next group: it starts as soon as that one has
   * committed, before its callers are answered (`release`), so the fsync of one group overlaps the answers
   * to the one before (HTTP +7 % over starting it on a timer after the answers).
   */
  private schedule(): void {
    if (this.timer || this.committing) return;
    const ms =
      this.queue.length >= FULL_GROUP_APPENDS ? 0 : this.opts.groupCommitMs - (performance.now() - this.queuedSince);
    this.setFlushTimer(ms);
  }

  private setFlushTimer(ms: number): void {
    this.timerIsImmediate = ms < 1;
    this.timer = ms >= 1 ? setTimeout(() => this.flush(), ms) : setImmediate(() => this.flush());
  }

  /**
   * Starts the group commit of everything queued (appends and acks), one transaction on the commit thread;
   * their promises settle when it has committed. While it runs, new appends queue for the next one.
   */
  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer as NodeJS.Timeout);
      clearImmediate(this.timer as NodeJS.Immediate);
      this.timer = null;
    }
    if (this.committing) return;
    const batch = this.queue;
    const acks = this.ackQueue;
    if (batch.length === 0 && acks.length === 0) return;
    this.queue = [];
    this.ackQueue = [];
    const committing: Promise<void> = this.commitAll(batch, acks).finally(() => {
      // Still ours: the commit failed (or was retried) and `release(true)` did not run.
      if (this.committing === committing) this.release(false);
    });
    this.committing = committing;
  }

  /**
   * The commit in flight has ended. `next`: start the next group commit now with what queued meanwhile
   * (its callers are about to be answered); otherwise schedule it as usual.
   */
  private release(next: boolean): void {
    this.committing = null;
    if (this.reloadPending) {
      this.reloadPending = false;
      this.loadState();
    }
    if (this.queue.length > 0 || this.ackQueue.length > 0) {
      if (next) this.flush();
      else this.schedule();
    }
  }

  private async commitAll(batch: QueuedAppend[], acks: QueuedAck[]): Promise<void> {
    let committed = false;
    try {
      await this.commit(batch, acks);
      committed = true;
    } catch (err) {
      if (batch.length + acks.length === 1) {
        if (batch[0]) this.failed(batch[0], err);
        else this.ackFailed(acks, err);
        return;
      }
    }
    if (committed) {
      try {
        this.release(true);
      } finally {
        for (const a of acks) a.resolve();
        for (const a of batch) a.resolve();
      }
      return;
    }
    // Retry the acks together and each append alone, so one bad append (or a transient error) does not
    // fail the others.
    if (acks.length > 0) {
      try {
        await this.commit([], acks);
        for (const a of acks) a.resolve();
      } catch (e) {
        this.ackFailed(acks, e);
      }
    }
    for (const a of batch) {
      try {
        await this.commit([a], []);
        a.resolve();
      } catch (e) {
        this.failed(a, e);
      }
    }
  }

  private ackFailed(acks: QueuedAck[], err: unknown): void {
    this.opts.log?.error({ err }, 'store: removing delivered points failed; they will be sent again');
    for (const a of acks)
      a.reject(new StoreWriteError(`store write failed: ${(err as Error).message}`, { cause: err }));
  }

  private failed(a: QueuedAppend, err: unknown): void {
    this.queuedBytes -= a.bytes;
    this.opts.log?.error({ err, deviceId: this.opts.deviceIdOf(a.token) }, 'store: append failed to commit');
    a.reject(new StoreWriteError(`store write failed: ${(err as Error).message}`, { cause: err }));
  }

  private commitThread(): CommitThread {
    if (this.thread?.alive) return this.thread;
    this.thread = new CommitThread(
      { path: this.opts.path, sync: this.opts.sync, busyTimeoutMs: this.opts.busyTimeoutMs ?? 5_000 },
      (err) => {
        // The job in flight fails (and is retried on a new thread); the counters are rebuilt from the file.
        this.opts.log?.error({ err }, 'store: the commit thread stopped; starting another');
        this.reloadPending = true;
      },
    );
    return this.thread;
  }

  /** One transaction on the commit thread; the in-memory counters move only once it has committed. */
  private async commit(batch: QueuedAppend[], acks: QueuedAck[]): Promise<void> {
    const started = performance.now();
    const now = Date.now();
    const groups = groupByDevice(batch, this.rowMaxBytes);
    let rows = 0;
    let bytes = 0;
    for (const g of groups) {
      rows += g.rows.length;
      bytes += g.bytes;
    }
    const ackIds: number[] = [];
    for (const a of acks) for (const id of a.ids) ackIds.push(id);
    const job: CommitJob = {
      acks: ackIds,
      groups: groups.map((g) => ({
        tkey: g.tkey,
        ...(this.tokenOf.has(g.tkey) ? {} : { sealedToken: this.codec.sealToken(g.token, g.tkey) }),
        rows: g.rows.map((r) => ({
          payload: this.codec.sealPayload(r.text, g.tkey),
          bytes: r.bytes,
          points: r.points,
        })),
        inIndex: this.willCache(g) ? 0 : 1,
      })),
      now,
      over: this.opts.whenFull === 'drop_oldest' ? this.depthBytes + bytes - this.opts.maxBytes : null,
    };
    const result: CommitResult = await this.commitThread().run(job);
    // Committed: only now do the in-memory counters move.
    for (const g of groups) if (!this.tokenOf.has(g.tkey)) this.tokenOf.set(g.tkey, g.token);
    for (const a of batch) this.queuedBytes -= a.bytes;
    const freed = this.afterRemoval(new Map(result.acked), ackIds.length > 0 ? new Set(ackIds) : undefined);
    const dropped = this.afterRemoval(new Map(result.evicted));
    groups.forEach((g, i) => {
      this.afterInsert(
        {
          token: g.token,
          tkey: g.tkey,
          firstId: result.firstIds[i]!,
          n: g.points,
          bytes: g.bytes,
          inIndex: job.groups[i]!.inIndex,
        },
        now,
        g.rows,
      );
    });
    if (batch.length > 0) events.storeCommit.publish({ rows, durationMs: performance.now() - started });
    if (freed > 0 && dropped === 0) this.emit(this.spaceListeners);
    if (dropped > 0) {
      this.opts.log?.warn({ points: dropped }, 'store: full, dropped the oldest points (whenFull: drop_oldest)');
      events.storeDrop.publish({ reason: 'drop_oldest', points: dropped });
      this.emit(this.spaceListeners);
    }
    if (batch.length > 0) this.emit(this.appendListeners);
  }

  /** Inserts one append's rows (inside a transaction; into the per-device index); returns the first row's id. */
  private insertRows(tkey: string, rows: readonly PackedRow[], now: number): number {
    let firstId = 0;
    for (const r of rows) {
      const id = Number(
        this.st.insertRow.run(tkey, this.codec.sealPayload(r.text, tkey), r.bytes, r.points, now, 1).lastInsertRowid,
      );
      if (firstId === 0) firstId = id;
    }
    return firstId;
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

  pendingBytes(token: string): number {
    return this.entries.get(token)?.bytes ?? 0;
  }

  peek(token: string, maxBytes: number): PendingBatch | null {
    for (;;) {
      const e = this.entries.get(token);
      if (!e) return null;
      const cached = this.cachedQueue(e);
      if (cached) return peekCached(token, cached, maxBytes);
      const ids: number[] = [];
      const parts: string[] = [];
      const bad: Array<{ id: number; payload: Stored; why: string }> = [];
      let bytes = 2;
      let points = 0;
      for (const row of this.st.peekRows.iterate(e.tkey) as IterableIterator<{
        id: number;
        payload: Stored;
        bytes: number;
        points: number;
      }>) {
        if (ids.length > 0 && bytes + row.bytes > maxBytes) break;
        let json: string;
        try {
          json = this.codec.openPayload(row.payload, e.tkey);
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
      if (bad.length > 0) this.quarantine(token, bad);
      if (ids.length > 0) return pendingBatch(token, ids, parts, points, bytes);
      if (bad.length === 0) return null;
    }
  }

  ack(ids: number[]): void {
    if (ids.length === 0) return;
    const removed = new Map<string, Removed>();
    this.withoutSync(() => {
      this.deleteDelivered(ids, removed);
      this.bumpWrites();
    });
    if (this.afterRemoval(removed, new Set(ids)) > 0) this.emit(this.spaceListeners);
  }

  ackWithNextCommit(ids: number[]): Promise<void> {
    if (this.closed) return Promise.reject(new ShuttingDownError('store is closed'));
    if (ids.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.ackQueue.push({ ids, resolve, reject });
      this.queued();
    });
  }

  /** Deletes delivered rows inside the caller's transaction, noting what the counters must lose. */
  private deleteDelivered(ids: readonly number[], removed: Map<string, Removed>): void {
    for (const id of ids) {
      // Only what the counters need: reading the payload back would cost as much as the delete.
      const row = this.st.deleteRowMeta.get(id) as RowMeta | undefined;
      if (row) note(removed, row, id);
    }
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
    const perToken = new Map<string, { parts: string[]; points: number }>();
    this.db.transaction(() => {
      for (const id of sorted) {
        const row = this.st.deleteRow.get(id) as (RowMeta & { payload: Stored }) | undefined;
        if (!row) continue;
        note(removed, row, id);
        let acc = perToken.get(row.token);
        if (!acc) {
          acc = { parts: [], points: 0 };
          perToken.set(row.token, acc);
        }
        // peek already vetted these rows; an unreadable one is kept as a JSON string rather than lost.
        try {
          acc.parts.push(this.codec.openPayload(row.payload, row.token));
          acc.points += row.points;
        } catch {
          acc.parts.push(JSON.stringify({ unreadable: true, id, points: row.points }));
          acc.points += 1;
        }
      }
      for (const [tkey, acc] of perToken) {
        const token = this.tokenOf.get(tkey) ?? '';
        const body = `{"token":${JSON.stringify(token)},"message":${JSON.stringify(message)},"records":[${acc.parts.join(',')}]}`;
        this.insertDead(this.opts.deviceIdOf(token), reason, acc.points, body, null);
      }
      this.bumpWrites();
    })();
    this.afterRemoval(removed, new Set(sorted));
    for (const [tkey, acc] of perToken) {
      this.deadCount++;
      const deviceId = this.opts.deviceIdOf(this.tokenOf.get(tkey) ?? '');
      events.deadLetter.publish({ deviceId, reason, points: acc.points });
    }
    if (removed.size > 0) this.emit(this.spaceListeners);
  }

  /** Moves unreadable rows (GCM auth failure, invalid JSON) to dead letters so they never block the queue. */
  private quarantine(token: string, bad: Array<{ id: number; payload: Stored; why: string }>): void {
    const removed = new Map<string, Removed>();
    const deviceId = this.opts.deviceIdOf(token);
    const moved: Array<{ id: number; points: number; why: string }> = [];
    this.db.transaction(() => {
      for (const b of bad) {
        const row = this.st.deleteRowMeta.get(b.id) as RowMeta | undefined;
        if (!row) continue;
        note(removed, row, b.id);
        const message = `stored row ${b.id} (${row.points} points) could not be read back (${b.why}); its stored bytes are kept in dead_letters.raw`;
        const body = `{"token":${JSON.stringify(token)},"message":${JSON.stringify(message)},"records":[]}`;
        const raw = typeof b.payload === 'string' ? Buffer.from(b.payload) : b.payload;
        this.insertDead(deviceId, 'tampered', row.points, body, raw);
        moved.push({ id: b.id, points: row.points, why: b.why });
      }
      this.bumpWrites();
    })();
    this.uncache(this.tokenKey(token));
    this.afterRemoval(removed);
    for (const m of moved) {
      this.deadCount++;
      this.opts.log?.error(
        { deviceId, row: m.id, points: m.points, reason: m.why },
        'store: tampered row moved to dead letters',
      );
      events.deadLetter.publish({ deviceId, reason: 'tampered', points: m.points });
    }
    this.emit(this.spaceListeners);
  }

  // ---- dead letters and refused tokens -----------------------------------------------------------

  addDeadLetter(input: DeadLetterInput): void {
    const { token, deviceId, reason, message, records, topic } = input;
    const body = JSON.stringify({ token, message, records, ...(topic !== undefined ? { topic } : {}) });
    this.db.transaction(() => {
      this.insertDead(deviceId, reason, records.length, body, null);
      this.bumpWrites();
    })();
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
        const { rows: packed, bytes } = packRows(d.records, this.rowMaxBytes);
        const firstId = d.records.length > 0 ? this.insertRows(tkey, packed, now) : 0;
        this.st.deleteDead.run(r.id);
        replayed++;
        points += d.records.length;
        if (d.records.length > 0)
          inserted.push({ token: d.token, tkey, firstId, n: d.records.length, bytes, inIndex: 1 });
      }
      this.bumpWrites();
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
    this.db.transaction(() => {
      this.st.insertRefused.run(tkey, this.codec.sealToken(token, tkey));
      this.bumpWrites();
    })();
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

  /**
   * Applies a committed insert to the counters. `rows` (the inserted rows, ids from `firstId` on: one
   * transaction's AUTOINCREMENT ids are consecutive) extend the device's cached queue; without them (a
   * replay on the main connection) the device is read from the file until its queue next empties. Rows
   * written outside the index for a queue that is not cached after all (it outgrew the cache, or the cache
   * was dropped while they were being committed) are put into the index here.
   */
  private afterInsert(ins: Inserted, at: number, rows?: readonly PackedRow[]): void {
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
    } else {
      this.entries.set(ins.token, { tkey: ins.tkey, oldestId: ins.firstId, count: ins.n, bytes: ins.bytes });
      // The queue was empty: these rows are all of it, so a cache started now is complete.
      this.uncache(ins.tkey);
      if (rows && this.cacheMaxBytes > 0) this.cache.set(ins.tkey, { rows: [], start: 0, points: 0, bytes: 0 });
    }
    const q = this.cache.get(ins.tkey);
    if (q && rows && this.cacheBytes + ins.bytes <= this.cacheMaxBytes) {
      rows.forEach((r, i) => {
        q.rows.push({ id: ins.firstId + i, text: r.text, bytes: r.bytes, points: r.points });
      });
      q.points += ins.n;
      q.bytes += ins.bytes;
      this.cacheBytes += ins.bytes;
      return;
    }
    this.uncache(ins.tkey);
    if (ins.inIndex === 0) this.index(Array.from({ length: rows?.length ?? 0 }, (_, i) => ins.firstId + i));
  }

  /** Whether a commit's rows for this device will extend a cached queue (so they can skip the index). */
  private willCache(g: { token: string; tkey: string }): boolean {
    return this.cacheMaxBytes > 0 && !this.reloadPending && (this.cache.has(g.tkey) || !this.entries.has(g.token));
  }

  /**
   * Puts rows into the per-device index (sqlite-schema.ts). On the main connection, without the fsync: if
   * it is lost, opening the file indexes every row anyway.
   */
  private index(ids: readonly number[]): void {
    if (ids.length === 0) return;
    this.withoutSync(() => {
      for (const id of ids) this.st.indexRow.run(id);
    });
  }

  /** The device's cached queue, if it is complete and agrees with the counters. */
  private cachedQueue(e: TokenEntry): CachedQueue | undefined {
    const q = this.cache.get(e.tkey);
    if (!q || this.reloadPending) return undefined;
    if (q.start < q.rows.length && q.rows[q.start]!.id === e.oldestId && q.points === e.count) return q;
    // Out of step with the file's counters (should not happen): read from the file from now on.
    this.uncache(e.tkey, true);
    return undefined;
  }

  /**
   * Drops a device's cached queue; from now on it is read from the file, so its rows that skipped the index
   * go into it first: the cached rows' ids, or (`outOfStep`, the cache no longer agrees with the file) every
   * row of the device, found by a full scan.
   */
  private uncache(tkey: string, outOfStep = false): void {
    const q = this.cache.get(tkey);
    if (!q) return;
    if (outOfStep) {
      this.withoutSync(() => {
        this.st.indexToken.run(tkey);
      });
    } else this.index(q.rows.slice(q.start).map((r) => r.id));
    this.cacheBytes -= q.bytes;
    this.cache.delete(tkey);
  }

  /**
   * A committed removal from the head of a device's queue (acks, dead letters and evictions always take a
   * queue's oldest rows): drops them from its cached queue, checking them by id when `ids` is given. Any
   * mismatch drops the cached queue instead. Returns the new head id, or undefined if not cached.
   */
  private uncacheHead(tkey: string, r: Removed, ids: ReadonlySet<number> | undefined): number | undefined {
    const q = this.cache.get(tkey);
    if (!q) return undefined;
    if (q.start >= q.rows.length || q.rows[q.start]!.id !== r.minId) {
      this.uncache(tkey, true);
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
    this.cacheBytes -= bytes;
    if (points !== r.n || bytes !== r.bytes) {
      this.uncache(tkey, true);
      return undefined;
    }
    if (q.start > 64 && q.start * 2 > q.rows.length) {
      q.rows = q.rows.slice(q.start);
      q.start = 0;
    }
    return q.start < q.rows.length ? q.rows[q.start]!.id : undefined;
  }

  /**
   * Applies committed deletions to the counters; returns the number of points removed. `ids`: the row ids
   * that were asked to go (acks, dead letters), to check cached queues against.
   */
  private afterRemoval(removed: Map<string, Removed>, ids?: ReadonlySet<number>): number {
    let total = 0;
    let headGone = false;
    for (const [tkey, r] of removed) {
      total += r.n;
      this.depthPoints -= r.n;
      this.depthBytes -= r.bytes;
      if (r.minId <= this.oldestId) headGone = true;
      const nextId = this.uncacheHead(tkey, r, ids);
      const token = this.tokenOf.get(tkey);
      const e = token === undefined ? undefined : this.entries.get(token);
      if (!e || token === undefined) continue;
      e.count -= r.n;
      e.bytes -= r.bytes;
      if (e.count <= 0) {
        this.entries.delete(token);
        this.uncache(tkey);
      } else if (r.minId <= e.oldestId) e.oldestId = nextId ?? (this.st.firstOfToken.get(tkey) as number);
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
    this.cache.clear();
    this.cacheBytes = 0;
    this.tokenOf.clear();
    this.refused.clear();
    for (const r of this.st.allTokens.all() as Array<{ tkey: string; token: Stored }>) {
      try {
        this.tokenOf.set(r.tkey, this.codec.openToken(r.token, r.tkey));
      } catch {
        this.opts.log?.error('store: a device token failed authentication; its points cannot be forwarded');
      }
    }
    // No queue is cached now, so every row goes into the per-device index (rows written for the caches of
    // a gateway that stopped, or that this process dropped just above).
    this.withoutSync(() => {
      this.st.indexAll.run();
    });
    const totals = this.st.totals.get() as { n: number; bytes: number };
    this.depthPoints = totals.n;
    this.depthBytes = totals.bytes;
    for (const r of this.st.heads.all() as Array<{ tkey: string; oldestId: number; n: number; bytes: number }>) {
      const token = this.tokenOf.get(r.tkey);
      if (token !== undefined) {
        this.entries.set(token, { tkey: r.tkey, oldestId: r.oldestId, count: r.n, bytes: r.bytes });
      }
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
    this.writesSeen = this.st.writes.get() as number;
  }

  /**
   * Picks up another process's writes (e.g. `tago-edge queue replay`). PRAGMA data_version changes when
   * any other connection commits, this store's commit thread included, so it only gates a look at
   * `meta.writes`, which every main-connection write bumps and the commit thread never does.
   */
  private refreshIfChangedElsewhere(): void {
    const v = this.st.dataVersion.get() as number;
    if (v === this.dataVersion) return;
    this.dataVersion = v;
    if ((this.st.writes.get() as number) === this.writesSeen) return;
    // A commit in flight may already be in the file but not in the counters: reload once it is applied.
    if (this.committing) this.reloadPending = true;
    else this.loadState();
  }

  /** Inside a main-connection write transaction: counts it, and notices when another process wrote too. */
  private bumpWrites(): void {
    const v = this.st.bumpWrites.get() as number;
    // Anything but the next value means another process wrote since: leave writesSeen behind so the next
    // refreshIfChangedElsewhere reloads.
    if (v === this.writesSeen + 1) this.writesSeen = v;
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
    while (this.committing) await this.committing;
    await this.thread?.close();
    this.db.close();
  }
}

/** `peek` from a device's cached queue: the same rows, in the same order, as reading them from the file. */
function peekCached(token: string, q: CachedQueue, maxBytes: number): PendingBatch {
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

/** The batch `peek` returns: `bytes` counted 2 for the brackets and one comma per row; the array has one fewer. */
function pendingBatch(token: string, ids: number[], parts: string[], points: number, bytes: number): PendingBatch {
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
  };
}

/**
 * One commit's appends per device, in first-seen order, with each device's rows in append order and
 * consecutive rows merged while they fit `maxBytes`: appends of one device in the same group commit (a busy
 * device, or several messages in flight) share a row, so they cost one insert and one delete between them.
 */
function groupByDevice(
  batch: readonly QueuedAppend[],
  maxBytes: number,
): Array<{ token: string; tkey: string; rows: PackedRow[]; points: number; bytes: number }> {
  const groups = new Map<string, { token: string; tkey: string; rows: PackedRow[]; points: number; bytes: number }>();
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

/** A deleted row's bookkeeping columns. */
interface RowMeta {
  token: string;
  bytes: number;
  points: number;
}

function note(removed: Map<string, Removed>, row: RowMeta, id: number): void {
  const r = removed.get(row.token);
  if (r) {
    r.n += row.points;
    r.bytes += row.bytes;
    if (id < r.minId) r.minId = id;
  } else {
    removed.set(row.token, { n: row.points, bytes: row.bytes, minId: id });
  }
}
