/**
 * The store's group commits on a worker thread with its own SQLite connection, so the event loop keeps
 * taking publishes and requests while SQLite inserts, deletes and syncs the WAL.
 *
 * Invariants:
 * - One job at a time (the store sends the next only after the reply): a job is one transaction
 *   (BEGIN IMMEDIATE, so it never has to upgrade a read snapshot), holding the delivered rows' deletes,
 *   `drop_oldest` evictions and the new rows, in that order. With `sync: full` the reply is sent after
 *   COMMIT has synced the WAL, so an append resolved on it is durable.
 * - A job with no rows (deletions of delivered points only) commits without the fsync: losing it on power
 *   failure means a resend, never a loss, and the next synced commit makes it durable.
 * - The reply says exactly what the transaction did (first id per group; per token key the points, bytes
 *   and smallest id removed), so the store's in-memory counters follow the file. A failed job rolls back
 *   and replies `ok: false`; nothing of it is in the file.
 * - The worker never writes the `meta` table: the store tells its own commits from another process's
 *   writes by the `meta` counter those bump (see SqliteStore.refreshIfChangedElsewhere).
 *
 * The worker's code is a string evaluated as a CommonJS worker, so the same code runs from the compiled
 * build and from the TypeScript sources under test.
 */
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Stored } from './sqlite-codec.js';
import { WRITE_SQL } from './sqlite-statements.js';

/** A token's share of what a transaction removed (n counts points, not rows). */
export interface Removed {
  n: number;
  bytes: number;
  minId: number;
}

export interface JobRow {
  payload: Stored;
  bytes: number;
  points: number;
}

export interface JobGroup {
  tkey: string;
  /** Present when the token is new to the file: `tokens` gets (tkey, sealedToken). */
  sealedToken?: Stored;
  rows: JobRow[];
  /** `in_index` for these rows: 0 when the store holds the device's queue in memory (sqlite-schema.ts). */
  inIndex: 0 | 1;
}

export interface CommitJob {
  /** Row ids of delivered batches, deleted first. */
  acks: number[];
  groups: JobGroup[];
  now: number;
  /** drop_oldest: bytes over `maxBytes` before the acks free any; the oldest rows go until it is not. */
  over: number | null;
}

export interface CommitResult {
  /** Per group, the id of its first inserted row. */
  firstIds: number[];
  acked: Array<[string, Removed]>;
  evicted: Array<[string, Removed]>;
}

export interface CommitThreadOptions {
  path: string;
  sync: 'full' | 'normal';
  busyTimeoutMs: number;
}

const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqlite);
const db = new Database(workerData.path);
db.pragma('busy_timeout = ' + workerData.busyTimeoutMs);
const FULL = workerData.sync === 'full';
db.pragma('synchronous = ' + (FULL ? 'FULL' : 'NORMAL'));
const setNormal = db.prepare('PRAGMA synchronous = NORMAL');
const setFull = db.prepare('PRAGMA synchronous = FULL');
const sql = workerData.sql;
const insertRow = db.prepare(sql.insertRow);
const insertToken = db.prepare(sql.insertToken);
const deleteRow = db.prepare(sql.deleteRowMeta);
const oldestIds = db.prepare(sql.oldestIds).pluck();

function note(removed, row, id) {
  const r = removed.get(row.token);
  if (r) { r.n += row.points; r.bytes += row.bytes; if (id < r.minId) r.minId = id; }
  else removed.set(row.token, { n: row.points, bytes: row.bytes, minId: id });
}
// Structured clone turns a Buffer into a plain Uint8Array; bind it as a BLOB.
function blob(p) { return typeof p === 'string' || Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength); }

const tx = db.transaction((job, out) => {
  for (const id of job.acks) { const row = deleteRow.get(id); if (row) note(out.acked, row, id); }
  if (job.over !== null) {
    let need = job.over;
    for (const r of out.acked.values()) need -= r.bytes;
    while (need > 0) {
      const ids = oldestIds.all(256);
      if (ids.length === 0) break;
      for (const id of ids) {
        const row = deleteRow.get(id);
        if (!row) continue;
        note(out.evicted, row, id);
        need -= row.bytes;
        if (need <= 0) break;
      }
    }
  }
  for (const g of job.groups) {
    if (g.sealedToken !== undefined) insertToken.run(g.tkey, blob(g.sealedToken));
    let first = 0;
    for (const r of g.rows) {
      const id = Number(insertRow.run(g.tkey, blob(r.payload), r.bytes, r.points, job.now, g.inIndex).lastInsertRowid);
      if (first === 0) first = id;
    }
    out.firstIds.push(first);
  }
});

parentPort.on('message', (job) => {
  if (job === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  const out = { firstIds: [], acked: new Map(), evicted: new Map() };
  try {
    if (FULL && job.groups.length === 0) {
      setNormal.run();
      try { tx.immediate(job, out); } finally { setFull.run(); }
    } else tx.immediate(job, out);
    parentPort.postMessage({ ok: true, firstIds: out.firstIds, acked: [...out.acked], evicted: [...out.evicted] });
  } catch (err) {
    parentPort.postMessage({ ok: false, message: String((err && err.message) || err), code: err && err.code });
  }
});
`;

type Reply = ({ ok: true } & CommitResult) | { ok: false; message: string; code?: string };

/** Error from a job the worker rolled back; carries SQLite's code (e.g. SQLITE_FULL). */
export class CommitJobError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'CommitJobError';
  }
}

export class CommitThread {
  private readonly worker: Worker;
  /** Jobs sent and not answered yet, in order: the worker answers them in the order they were sent. */
  private readonly pending: Array<{ resolve(r: CommitResult): void; reject(err: Error): void }> = [];
  private dead: Error | null = null;

  constructor(
    opts: CommitThreadOptions,
    private readonly onDeath: (err: Error) => void,
  ) {
    const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { sqlite, sql: WRITE_SQL, path: opts.path, sync: opts.sync, busyTimeoutMs: opts.busyTimeoutMs },
    });
    this.worker.on('message', (reply: Reply) => {
      const p = this.pending.shift();
      if (!p) return;
      if (reply.ok) p.resolve(reply);
      else p.reject(new CommitJobError(reply.message, reply.code));
    });
    const die = (err: Error) => {
      if (this.dead) return;
      this.dead = err;
      for (const p of this.pending.splice(0)) p.reject(err);
      this.onDeath(err);
    };
    this.worker.on('error', (err) => die(err));
    this.worker.on('exit', (code) => die(new Error(`store commit thread exited (code ${code})`)));
  }

  /** Queues one job; jobs run one after another, in the order they were sent. */
  run(job: CommitJob): Promise<CommitResult> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.worker.postMessage(job);
    });
  }

  get alive(): boolean {
    return this.dead === null;
  }

  /**
   * Closes the worker's connection and lets the thread end (after the jobs already sent). A thread that has
   * not ended after `graceMs` (stuck on a lock) is terminated: nothing unanswered was acknowledged.
   */
  async close(graceMs = 10_000): Promise<void> {
    if (this.dead) return;
    this.dead = new Error('store commit thread closed');
    const exited = once(this.worker, 'exit');
    this.worker.postMessage('close');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), graceMs);
    });
    if ((await Promise.race([exited, late])) === 'late') await this.worker.terminate();
    clearTimeout(timer);
  }
}
