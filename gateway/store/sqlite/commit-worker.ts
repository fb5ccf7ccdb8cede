/**
 * The commit thread's worker: its own SQLite connection, one job (one transaction) at a time, in the
 * order the store sends them (commit-thread.ts holds the protocol's invariants).
 *
 * This module runs only inside the worker. It imports nothing of ours at run time (the SQL and the
 * better-sqlite3 path come in `workerData`), so from the TypeScript sources it can be compiled alone and
 * started as an eval'd CommonJS worker (tests), and from the build it is started as `commit-worker.js`.
 */
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import type BetterSqlite3 from 'better-sqlite3';
import type {
  CommitJob,
  CommitWorkerData,
  Removed,
  StepResult,
  StepsJob,
  WorkerJob,
  WorkerReply,
} from './commit-protocol.js';

const data = workerData as CommitWorkerData;
const port = parentPort;
if (!port) throw new Error('commit-worker runs only as a worker thread');

const Database = createRequire(data.sqlite)(data.sqlite) as typeof BetterSqlite3;
const db = new Database(data.path);
db.pragma(`busy_timeout = ${data.busyTimeoutMs}`);
const FULL = data.sync === 'full';
db.pragma(`synchronous = ${FULL ? 'FULL' : 'NORMAL'}`);
const setNormal = db.prepare('PRAGMA synchronous = NORMAL');
const setFull = db.prepare('PRAGMA synchronous = FULL');
const insertRow = db.prepare(data.sql.insertRow);
const insertToken = db.prepare(data.sql.insertToken);
const deleteRow = db.prepare<[number], { token: string; bytes: number; points: number }>(data.sql.deleteRowMeta);
const oldestIds = db.prepare<[number], number>(data.sql.oldestIds).pluck();
const named = new Map(Object.entries(data.sql).map(([name, sql]) => [name, db.prepare(sql)]));

interface Out {
  firstIds: number[];
  acked: Map<string, Removed>;
  evicted: Map<string, Removed>;
}

function note(removed: Map<string, Removed>, row: { token: string; bytes: number; points: number }, id: number) {
  const r = removed.get(row.token);
  if (r) {
    r.n += row.points;
    r.bytes += row.bytes;
    if (id < r.minId) r.minId = id;
  } else removed.set(row.token, { n: row.points, bytes: row.bytes, minId: id });
}

/** Structured clone turns a Buffer into a plain Uint8Array; bind it as a BLOB. */
function blob(p: string | Uint8Array): string | Buffer {
  return typeof p === 'string' || Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength);
}

const commit = db.transaction((job: CommitJob, out: Out) => {
  for (const id of job.acks) {
    const row = deleteRow.get(id);
    if (row) note(out.acked, row, id);
  }
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

class StepMismatch extends Error {}

const steps = db.transaction((job: StepsJob, out: StepResult[]) => {
  for (const step of job.steps) {
    const st = named.get(step.sql);
    if (!st) throw new Error(`unknown statement ${step.sql}`);
    const args = step.args.map((a) => (a instanceof Uint8Array ? blob(a) : a));
    let changes: number;
    let id = 0;
    if (st.reader)
      changes = st.get(...args) === undefined ? 0 : 1; // DELETE … RETURNING
    else {
      const r = st.run(...args);
      changes = r.changes;
      id = Number(r.lastInsertRowid);
    }
    if (step.expect !== undefined && changes !== step.expect)
      throw new StepMismatch(`${step.sql} changed ${changes} rows, expected ${step.expect}`);
    out.push({ changes, id });
  }
});

/** Runs a transaction; `relaxed`: without the WAL fsync (its loss on power failure is harmless). */
function inTransaction(relaxed: boolean, fn: () => void): void {
  if (FULL && relaxed) {
    setNormal.run();
    try {
      fn();
    } finally {
      setFull.run();
    }
  } else fn();
}

function run(job: WorkerJob): WorkerReply {
  try {
    if ('steps' in job) {
      const out: StepResult[] = [];
      inTransaction(!job.durable, () => steps.immediate(job, out));
      return { ok: true, steps: out };
    }
    const out: Out = { firstIds: [], acked: new Map(), evicted: new Map() };
    // A job with no rows only deletes delivered points: its loss on power failure means a resend.
    inTransaction(job.groups.length === 0, () => commit.immediate(job, out));
    return { ok: true, firstIds: out.firstIds, acked: [...out.acked], evicted: [...out.evicted] };
  } catch (err) {
    const e = err as { message?: string; code?: string };
    return { ok: false, message: String(e?.message ?? err), ...(e?.code !== undefined ? { code: e.code } : {}) };
  }
}

port.on('message', (job: WorkerJob | 'close') => {
  if (job === 'close') {
    db.close();
    port.close();
    return;
  }
  port.postMessage(run(job));
});
