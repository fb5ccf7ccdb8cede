/**
 * The messages between the store (commit-thread.ts) and its commit worker (commit-worker.ts): types only,
 * so the worker needs nothing of ours at run time.
 */
import type { Removed } from './queue-ledger.js';
import type { WRITE_SQL, WriteName } from './statements.js';

export type { Removed };

/** A stored value as the worker receives it (a Buffer arrives as a plain Uint8Array). */
export type StoredValue = string | Uint8Array;

export interface JobRow {
  payload: StoredValue;
  bytes: number;
  points: number;
}

export interface JobGroup {
  tkey: string;
  /** Present when the token is new to the file: `tokens` gets (tkey, sealedToken). */
  sealedToken?: StoredValue;
  rows: JobRow[];
  /** `in_index` for these rows: 0 when the store holds the device's queue in memory (schema.ts). */
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

/** One statement of a steps job, by name, with its parameters. */
export interface Step {
  sql: WriteName;
  args: Array<StoredValue | number | null>;
  /** The statement must change exactly this many rows, or the whole job rolls back (a row gone meanwhile). */
  expect?: number;
}

/**
 * The store's other writes (dead letters, quarantine, replay, refused tokens, the per-device index), built
 * by the store and run by the worker in one transaction, in the order given, one job at a time with the
 * group commits. `durable: false` commits without the WAL fsync (the per-device index: losing it on power
 * failure only means opening the file puts those rows in the index again).
 */
export interface StepsJob {
  steps: Step[];
  durable: boolean;
}

/** Per step: the rows it changed and, for an INSERT, the new row's id. */
export interface StepResult {
  changes: number;
  id: number;
}

export type WorkerJob = CommitJob | StepsJob;

export interface CommitResult {
  /** Per group, the id of its first inserted row. */
  firstIds: number[];
  acked: Array<[string, Removed]>;
  evicted: Array<[string, Removed]>;
}

export type WorkerReply =
  | ({ ok: true } & CommitResult)
  | { ok: true; steps: StepResult[] }
  | { ok: false; message: string; code?: string };

export interface CommitWorkerData {
  /** Resolved path of better-sqlite3 (an eval'd worker cannot resolve packages from our sources). */
  sqlite: string;
  sql: typeof WRITE_SQL;
  path: string;
  sync: 'full' | 'normal';
  busyTimeoutMs: number;
}
