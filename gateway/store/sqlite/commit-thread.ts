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
 * - It is the file's only writer once the store is open: besides group commits it runs the store's steps
 *   jobs (dead letters, quarantine, replay, refused tokens, the per-device index), queued with them.
 *
 * The worker is commit-worker.ts: from the build it starts as `commit-worker.js` beside this file; from
 * the TypeScript sources (tests) it is compiled with esbuild and started as an eval'd CommonJS worker.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type {
  CommitJob,
  CommitResult,
  CommitWorkerData,
  StepResult,
  StepsJob,
  WorkerJob,
  WorkerReply,
} from './commit-protocol.js';
import { WRITE_SQL } from './statements.js';

export type { CommitJob, CommitResult, JobGroup, JobRow, Removed, Step, StepResult } from './commit-protocol.js';

export interface CommitThreadOptions {
  path: string;
  sync: 'full' | 'normal';
  busyTimeoutMs: number;
}

const requireHere = createRequire(import.meta.url);
let workerCode: string | undefined;

/** Starts the worker: the compiled module next to this one, or (running from sources) compiled now. */
function startWorker(workerData: CommitWorkerData): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(new URL('./commit-worker.js', here), { workerData });
  if (workerCode === undefined) {
    const esbuild = requireHere('esbuild') as typeof import('esbuild');
    const source = readFileSync(fileURLToPath(new URL('./commit-worker.ts', here)), 'utf8');
    workerCode = esbuild.transformSync(source, { loader: 'ts', format: 'cjs', platform: 'node' }).code;
  }
  return new Worker(workerCode, { eval: true, workerData });
}

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
  private readonly pending: Array<{ resolve(r: WorkerReply & { ok: true }): void; reject(err: Error): void }> = [];
  private dead: Error | null = null;

  constructor(
    opts: CommitThreadOptions,
    private readonly onDeath: (err: Error) => void,
  ) {
    this.worker = startWorker({
      sqlite: requireHere.resolve('better-sqlite3'),
      sql: WRITE_SQL,
      path: opts.path,
      sync: opts.sync,
      busyTimeoutMs: opts.busyTimeoutMs,
    });
    this.worker.on('message', (reply: WorkerReply) => {
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

  /** Queues one group commit; jobs run one after another, in the order they were sent. */
  async run(job: CommitJob): Promise<CommitResult> {
    return (await this.send(job)) as CommitResult;
  }

  /** Queues one steps job (one transaction), in order with the group commits. */
  async steps(job: StepsJob): Promise<StepResult[]> {
    return ((await this.send(job)) as { steps: StepResult[] }).steps;
  }

  private send(job: WorkerJob): Promise<WorkerReply & { ok: true }> {
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

/**
 * The store's one writer: a commit thread, started on the first job (a store that is only read never
 * starts one) and started again when it dies (`onDeath` runs first; the job in flight has failed).
 */
export class CommitWriter {
  private thread: CommitThread | null = null;

  constructor(
    private readonly opts: CommitThreadOptions,
    private readonly onDeath: (err: Error) => void,
  ) {}

  commit(job: CommitJob): Promise<CommitResult> {
    return this.current().run(job);
  }

  steps(job: StepsJob): Promise<StepResult[]> {
    return this.current().steps(job);
  }

  /** Resolves once every job sent so far has been answered. */
  async flush(): Promise<void> {
    if (this.thread?.alive) await this.thread.steps({ steps: [], durable: false });
  }

  close(): Promise<void> {
    return this.thread?.close() ?? Promise.resolve();
  }

  private current(): CommitThread {
    if (this.thread?.alive) return this.thread;
    this.thread = new CommitThread(this.opts, this.onDeath);
    return this.thread;
  }
}
