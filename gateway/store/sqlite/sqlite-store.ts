/**
 * The durable store: SQLite (better-sqlite3, WAL) with group commit on a worker thread. This file wires
 * the parts, each with one job:
 * - row-packing.ts: an append's records → rows (one per append, split past `rowMaxBytes`);
 * - group-commit.ts: when a group commits, one at a time, and the retry of a failed group; commit-job.ts: its job;
 * - commit-thread.ts / commit-worker.ts: the transaction itself, on its own connection;
 * - queue-ledger.ts: per-device depth, bytes and oldest point, in memory;
 * - row-cache.ts: committed rows kept for `peek`, and the `in_index` rule; dead-letters.ts, refused-tokens.ts.
 *
 * Invariants:
 * - `append` resolves only after the transaction holding its rows has COMMITted on the commit thread
 *   (with `sync: full` the WAL fsync has happened when it answers); never for rows not in the file.
 * - Per device, points come out of `peek` in id order, which is append order (AUTOINCREMENT ids are never
 *   reused, so a replayed dead letter goes to the back of its device's queue). `peek` takes whole rows.
 * - A point leaves `points` only through `acknowledge`, a dead letter (including a tampered row,
 *   quarantined by `peek`), or a `drop_oldest` eviction published on `events.storeDrop`.
 * - `store.maxBytes` bounds committed + queued bytes (`bytes` = JSON length + 1). With `block`, an append
 *   that would exceed it is refused with StoreFullError before anything is written.
 * - The commit thread is the file's only writer once it is open: group commits, and steps jobs for dead
 *   letters, quarantine, replay, refusals and the per-device index. This connection only reads. No other
 *   process writes a file a gateway has open (the gateway holds the store's lock, gateway/admin/; the
 *   queue CLI goes through it), so nothing here looks for changes made elsewhere.
 * - The ledger and the row cache move only after a commit has succeeded, so they follow the file.
 */
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { type Clock, systemClock } from '../../clock.js';
import { ShuttingDownError, StoreFullError, StoreWriteError } from '../../errors.js';
import { events } from '../../events.js';
import type { DataRecord } from '../../model.js';
import type { Cipher } from '../encryption.js';
import type { DeadLetter, DeadLetterInput, KeyFilter, PendingBatch, QueueShare, Store, StoreStats } from '../store.js';
import { type Codec, codecFor } from './codec.js';
import { commitJob } from './commit-job.js';
import { type CommitResult, CommitWriter, type Step, type StepResult } from './commit-thread.js';
import { SqliteDeadLetters } from './dead-letters.js';
import { GroupCommit, type QueuedAck, type QueuedAppend } from './group-commit.js';
import { type Inserted, QueueLedger, type Removed } from './queue-ledger.js';
import { RefusedTokens } from './refused-tokens.js';
import { DEFAULT_ROW_CACHE_BYTES, peekCached, RowCache } from './row-cache.js';
import { RowIndex } from './row-index.js';
import { DEFAULT_ROW_MAX_BYTES, type PackedRow, packRows } from './row-packing.js';
import { type BadRow, readRows } from './row-reader.js';
import { openDatabase, takeAllIndexed } from './schema.js';
import { loadLedger } from './state-load.js';
import { prepareStatements, type Statements } from './statements.js';

export { FULL_GROUP_APPENDS } from './group-commit.js';
export { DEFAULT_ROW_CACHE_BYTES } from './row-cache.js';
export { DEFAULT_ROW_MAX_BYTES, packRows } from './row-packing.js';

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
  clock?: Clock;
  /** Never write (the queue CLI's read-only commands): rows found outside the index are read, not indexed. */
  readOnly?: boolean;
}

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly st: Statements;
  private readonly codec: Codec;
  private readonly clock: Clock;
  private readonly rowMaxBytes: number;
  private readonly ledger: QueueLedger;
  private readonly cache: RowCache;
  private readonly index: RowIndex;
  private readonly dead: SqliteDeadLetters;
  private readonly refused: RefusedTokens;
  private readonly group: GroupCommit;
  private readonly writer: CommitWriter;
  /** The commit thread stopped with a job in flight: rebuild from the file once no commit is in flight. */
  private reloadPending = false;
  /** Rows found unreadable by `peek`, on their way to the dead letters. */
  private readonly quarantining = new Set<number>();
  /** The file was closed cleanly with every row in the index: the first load need not scan for others. */
  private allIndexedAtOpen: boolean;
  private closed = false;
  private readonly appendListeners: Array<() => void> = [];
  private readonly spaceListeners: Array<() => void> = [];

  constructor(private readonly opts: SqliteStoreOptions) {
    this.codec = codecFor(opts.cipher);
    this.clock = opts.clock ?? systemClock;
    this.rowMaxBytes = opts.rowMaxBytes ?? DEFAULT_ROW_MAX_BYTES;
    this.db = openDatabase({
      path: opts.path,
      sync: opts.sync,
      cipher: opts.cipher,
      ...(opts.busyTimeoutMs !== undefined ? { busyTimeoutMs: opts.busyTimeoutMs } : {}),
    });
    // Opening, before any row can skip the index: was every row in it when the file was last closed?
    this.allIndexedAtOpen = takeAllIndexed(this.db, opts.readOnly === true);
    const st = prepareStatements(this.db);
    this.writer = new CommitWriter(
      { path: opts.path, sync: opts.sync, busyTimeoutMs: opts.busyTimeoutMs ?? 5_000 },
      (err) => {
        // The job in flight fails (and is retried on a new thread); the ledger is rebuilt from the file.
        opts.log?.error({ err }, 'store: the commit thread stopped; starting another');
        this.reloadPending = true;
        this.cache.suspended = true;
      },
    );
    this.st = st;
    this.ledger = new QueueLedger({
      firstOfDevice: (tkey) => this.index.firstOf(tkey),
      firstOverall: () => {
        const h = st.firstOverall.get() as { id: number; created_at: number } | undefined;
        return h && { id: h.id, createdAt: h.created_at };
      },
    });
    const write = (steps: Step[]) => this.write(steps, true);
    this.index = new RowIndex(st, (steps) => this.write(steps, false), opts.log);
    this.cache = new RowCache(opts.rowCacheBytes ?? DEFAULT_ROW_CACHE_BYTES, this.index);
    this.dead = new SqliteDeadLetters({
      st,
      codec: this.codec,
      clock: this.clock,
      log: opts.log,
      rowMaxBytes: this.rowMaxBytes,
      tokenOf: this.ledger.tokenOf,
      deviceIdOf: opts.deviceIdOf,
      removed: (removed, ids) => this.removed(removed, ids),
      inserted: (ins, at) => this.inserted(ins, at, undefined, 1),
      write,
      spaceFreed: () => this.emit(this.spaceListeners),
      appended: () => this.emit(this.appendListeners),
    });
    this.refused = new RefusedTokens(st, this.codec, opts.log, write);
    this.group = new GroupCommit({
      groupCommitMs: opts.groupCommitMs,
      clock: this.clock,
      commit: (appends, acks) => this.commit(appends, acks),
      appendFailed: (a, err) => {
        this.group.forget(a);
        opts.log?.error({ err, deviceId: opts.deviceIdOf(a.token) }, 'store: append failed to commit');
        a.reject(new StoreWriteError(`store write failed: ${(err as Error).message}`, { cause: err }));
      },
      acksFailed: (acks, err) => {
        opts.log?.error({ err }, 'store: removing delivered points failed; they will be sent again');
        for (const a of acks)
          a.reject(new StoreWriteError(`store write failed: ${(err as Error).message}`, { cause: err }));
      },
      released: () => {
        if (!this.reloadPending) return;
        this.reloadPending = false;
        this.loadState();
      },
    });
    this.loadState();
  }

  // ---- the queue ---------------------------------------------------------------------------------

  append(token: string, records: DataRecord[]): Promise<void> {
    if (this.closed) return Promise.reject(new ShuttingDownError('store is closed'));
    if (records.length === 0) return Promise.resolve();
    const { rows, bytes } = packRows(records, this.rowMaxBytes);
    // With drop_oldest, committed points can be evicted at commit time; only the queue itself must fit.
    const fits =
      this.opts.whenFull === 'drop_oldest' ? this.group.queuedBytes + bytes <= this.opts.maxBytes : this.hasRoom(bytes);
    if (!fits) {
      const err = new StoreFullError(
        `store full (${this.ledger.depthBytes + this.group.queuedBytes} of ${this.opts.maxBytes} bytes, ${bytes} more asked)`,
        { retryAfterSeconds: this.opts.retryAfterSeconds },
      );
      return Promise.reject(err);
    }
    return new Promise<void>((resolve, reject) => {
      const tkey = this.codec.tokenKey(token);
      this.group.append({ token, tkey, rows, points: records.length, bytes, resolve, reject });
    });
  }

  hasRoom(bytes: number): boolean {
    return this.ledger.depthBytes + this.group.queuedBytes + bytes <= this.opts.maxBytes;
  }

  acknowledge(ids: number[]): Promise<void> {
    if (ids.length === 0 && !this.closed) return Promise.resolve();
    return this.ifOpen(() => new Promise<void>((resolve, reject) => this.group.ack({ ids, resolve, reject })));
  }

  pendingTokens(limit: number, exclude?: ReadonlySet<string>, owns?: KeyFilter): string[] {
    return this.ledger.pendingTokens(limit, exclude, owns);
  }

  appendedAt(id: number): number | undefined {
    return this.st.createdAt.get(id) as number | undefined;
  }

  queueShare(owns: KeyFilter): QueueShare {
    return this.ledger.share(owns, (id) => this.appendedAt(id), this.clock.now());
  }

  pendingBytes(token: string): number {
    return this.ledger.pendingBytes(token);
  }

  peek(token: string, maxBytes: number): PendingBatch | null {
    for (;;) {
      const e = this.ledger.entry(token);
      if (!e) return null;
      const cached = this.cache.queue(e);
      if (cached) return peekCached(token, cached, maxBytes);
      const unindexed = this.index.unindexed(e.tkey);
      const { batch, bad } = readRows(this.st, this.codec, token, e.tkey, maxBytes, unindexed, this.quarantining);
      if (bad.length > 0) {
        this.cache.drop(e.tkey);
        this.quarantine(token, bad);
      }
      if (batch || bad.length === 0) return batch;
    }
  }

  /** Sets unreadable rows aside (peek skips them from now on) and moves them to the dead letters. */
  private quarantine(token: string, bad: BadRow[]): void {
    for (const b of bad) this.quarantining.add(b.id);
    this.dead
      .quarantine(token, bad)
      .catch((err) => this.opts.log?.error({ err }, 'store: moving unreadable rows to dead letters failed'))
      .finally(() => {
        for (const b of bad) this.quarantining.delete(b.id);
      });
  }

  deadLetter(ids: number[], reason: string, message: string): Promise<void> {
    return this.ifOpen(() => this.dead.move(ids, reason, message));
  }

  stats(): StoreStats {
    return {
      depthPoints: this.ledger.depthPoints,
      depthBytes: this.ledger.depthBytes,
      oldestAgeMs: this.ledger.oldestAgeMs(this.clock.now()),
      deadLetters: this.dead.count,
      maxBytes: this.opts.maxBytes,
    };
  }

  // ---- dead letters and refused tokens -----------------------------------------------------------

  addDeadLetter(input: DeadLetterInput): Promise<void> {
    return this.ifOpen(() => this.dead.add(input));
  }

  listDeadLetters(limit?: number): DeadLetter[] {
    return this.dead.list(limit);
  }

  replayDeadLetters(ids?: number[]): Promise<number> {
    return this.ifOpen(() => this.dead.replay(ids));
  }

  refuseToken(token: string): Promise<void> {
    return this.ifOpen(() => this.refused.refuse(token));
  }

  isRefused(token: string): boolean {
    return this.refused.has(token);
  }

  refusedTokens(): string[] {
    return this.refused.list();
  }

  private ifOpen<T>(run: () => Promise<T>): Promise<T> {
    return this.closed ? Promise.reject(new ShuttingDownError('store is closed')) : run();
  }

  // ---- commits -----------------------------------------------------------------------------------

  /** A steps job on the commit thread; `durable: false` skips the WAL fsync (the per-device index). */
  private async write(steps: Step[], durable: boolean): Promise<StepResult[]> {
    if (this.opts.readOnly) throw new StoreWriteError('store: opened read-only');
    try {
      return await this.writer.steps({ steps, durable });
    } catch (err) {
      throw new StoreWriteError(`store write failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /** One transaction on the commit thread; the ledger and cache move only once it has committed. */
  private async commit(batch: QueuedAppend[], acks: QueuedAck[]): Promise<void> {
    const started = this.clock.monotonic();
    const now = this.clock.now();
    const tokenOf = this.ledger.tokenOf;
    const { job, groups, rows, ackIds } = commitJob(batch, acks, {
      rowMaxBytes: this.rowMaxBytes,
      codec: this.codec,
      tokenOf,
      willCache: (tkey, token) => this.cache.willCache(tkey, !this.ledger.hasQueue(token)),
      over: (bytes) =>
        this.opts.whenFull === 'drop_oldest' ? this.ledger.depthBytes + bytes - this.opts.maxBytes : null,
      now,
    });
    const result: CommitResult = await this.writer.commit(job);
    // Committed: only now do the ledger and the cache move.
    for (const g of groups) if (!tokenOf.has(g.tkey)) tokenOf.set(g.tkey, g.token);
    for (const a of batch) this.group.forget(a);
    const freed = this.removed(new Map(result.acked), ackIds.length > 0 ? new Set(ackIds) : undefined);
    const dropped = this.removed(new Map(result.evicted));
    groups.forEach((g, i) => {
      const ins = { token: g.token, tkey: g.tkey, firstId: result.firstIds[i]!, n: g.points, bytes: g.bytes };
      this.inserted(ins, now, g.rows, job.groups[i]!.inIndex);
    });
    if (batch.length > 0) events.storeCommit.publish({ rows, durationMs: this.clock.monotonic() - started });
    if (freed > 0 && dropped === 0) this.emit(this.spaceListeners);
    if (dropped > 0) {
      this.opts.log?.warn({ points: dropped }, 'store: full, dropped the oldest points (whenFull: drop_oldest)');
      events.storeDrop.publish({ reason: 'drop_oldest', points: dropped });
      this.emit(this.spaceListeners);
    }
    if (batch.length > 0) this.emit(this.appendListeners);
  }

  private inserted(ins: Inserted, at: number, rows: readonly PackedRow[] | undefined, inIndex: 0 | 1): void {
    const started = this.ledger.inserted(ins, at);
    this.cache.inserted(ins.tkey, ins.firstId, rows, inIndex, started);
  }

  /** Applies committed removals; `ids`: the row ids asked to go, to check cached queues against. */
  private removed(removed: Map<string, Removed>, ids?: ReadonlySet<number>): number {
    return this.ledger.removed(
      removed,
      (tkey, r) => this.cache.removedHead(tkey, r, ids),
      (tkey) => this.cache.drop(tkey),
    );
  }

  /** (Re)builds the ledger, cache, dead-letter count and refusals from the file: at open, and after a change. */
  private loadState(): void {
    this.cache.clear();
    this.cache.suspended = false;
    this.index.clear();
    // No queue is cached now: rows a crash left outside the index go into it (read meanwhile by id).
    const unindexed = loadLedger(this.ledger, this.st, this.codec, this.opts.log, this.allIndexedAtOpen);
    this.allIndexedAtOpen = false;
    for (const [tkey, ids] of unindexed) this.index.rows(tkey, ids, this.opts.readOnly !== true);
    this.dead.load();
    this.refused.load();
  }

  /** Resolves once every write asked for so far (commits, steps jobs) has committed or failed. */
  async flush(): Promise<void> {
    await this.group.drain();
    await this.writer.flush();
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
    await this.group.drain();
    if (!this.opts.readOnly) {
      // A clean close puts every row into the index and says so, sparing the next open a scan of the table.
      const ids = [...this.cache.rowIds(), ...this.index.allUnindexed()];
      const steps: Step[] = ids.map((id) => ({ sql: 'indexRow', args: [id] }));
      steps.push({ sql: 'setAllIndexed', args: [] });
      await this.writer
        .steps({ steps, durable: true })
        .catch((err) => this.opts.log?.warn({ err }, 'store: could not index every row at close; the next open will'));
    }
    await this.writer.close();
    this.db.close();
  }
}
