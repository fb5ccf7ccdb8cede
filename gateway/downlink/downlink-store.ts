/**
 * The downlink's own durable store: one SQLite file (`<store.dir>/downlink.sqlite`, WAL, `store.sync`),
 * written only by the gateway's main thread, apart from the point store so that neither's schema or
 * commit scheduling constrains the other. Commands are low-rate next to uplink points, so every write is
 * its own transaction, on disk before the call returns: `POST /publish` answers 200 after `enqueue`. The
 * one exception is `markDelivered`: the deliveries of one turn of the event loop share a transaction,
 * committed at the next turn (or before any other write, or at close) without the WAL fsync (as
 * `store.sync: normal` commits). Losing them on a crash or power failure only sends those messages again,
 * which at-least-once delivery allows. With a transaction and an fsync each, 20,000 devices reconnecting to
 * 40,000 queued commands spent the event loop in commits (the reconnect storm curve, docs/performance.md).
 *
 * Invariants:
 * - A message is `queued` until a device acknowledged it (`delivered`: PUBACK at QoS 1, written at QoS 0,
 *   answered to GET /data over HTTP), its `expires_at` passed (`expired`), or it overflowed its target's
 *   bound (`dead_letter`, reason `overflow`). Only `queued` changes, and only once.
 * - Finished messages stay readable (`GET /downlink/{id}`) for `keepFinishedMs`, then are pruned; a
 *   topic's retained message is never pruned while it is retained.
 * - Per target (a device, or `topic:<topic>` when the message names none) at most `maxQueuedPerDevice`
 *   messages are queued; the oldest past the bound becomes a dead letter in the same transaction.
 * - At most `maxQueued` messages are queued in all; past it enqueue throws DownlinkQueueFullError.
 * - One retained message per topic (the latest posted with `retain`; an empty retained message clears it).
 * - A pulled TagoIO record id is written in the same transaction as the message it became, so a record
 *   becomes a message at most once, whatever crashes in between (pull mode's exactly once).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DownlinkQueueFullError } from '../errors.js';
import { type DownlinkQueue, queuedMessage } from './downlink-queue.js';

export type DownlinkStatus = 'queued' | 'delivered' | 'expired' | 'dead_letter';

export interface DownlinkInput {
  /** Device id, or `topic:<topic>` for a message that names no device. */
  target: string;
  topic: string;
  payload: Buffer;
  qos: 0 | 1;
  retain: boolean;
  /** `push` (POST /publish) or `pull` (polled from TagoIO). */
  source: 'push' | 'pull';
}

export interface DownlinkMessage extends DownlinkInput {
  id: string;
  status: DownlinkStatus;
  /** `ttl`, `overflow`, or how it was delivered (`mqtt`, `http`). */
  reason: string | null;
  createdAt: number;
  expiresAt: number;
  finishedAt: number | null;
}

interface Row {
  id: string;
  target: string;
  topic: string;
  payload: Buffer;
  qos: number;
  retain: number;
  source: string;
  status: string;
  reason: string | null;
  created_at: number;
  expires_at: number;
  finished_at: number | null;
}

export interface DownlinkStoreOptions {
  /** A directory for `downlink.sqlite`, or null for an in-memory database (`store.engine: memory`). */
  dir: string | null;
  sync: 'full' | 'normal';
  ttlMs: number;
  maxQueuedPerDevice: number;
  maxQueued: number;
  retryAfterSeconds: number;
  /** A batch of deliveries failed to commit (those messages stay queued and are sent again). */
  onCommitFailed?: (err: unknown) => void;
}

export interface EnqueueResult {
  message: DownlinkMessage;
  /** Messages that became dead letters to keep the target within its bound. */
  overflowed: DownlinkMessage[];
  /** The pulled record had become this message already (on another node): nothing new was queued. */
  duplicate?: boolean;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  target TEXT NOT NULL,
  topic TEXT NOT NULL,
  payload BLOB NOT NULL,
  qos INTEGER NOT NULL,
  retain INTEGER NOT NULL,
  source TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  finished_at INTEGER
);
CREATE INDEX IF NOT EXISTS queued_by_target ON messages (target, seq) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS queued_by_expiry ON messages (expires_at) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS finished_by_time ON messages (finished_at) WHERE status <> 'queued';
CREATE TABLE IF NOT EXISTS retained (topic TEXT PRIMARY KEY, id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pulled (
  device_id TEXT NOT NULL,
  record_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (device_id, record_id)
);
`;

function toMessage(r: Row): DownlinkMessage {
  return {
    id: r.id,
    target: r.target,
    topic: r.topic,
    payload: r.payload,
    qos: r.qos === 1 ? 1 : 0,
    retain: r.retain === 1,
    source: r.source === 'pull' ? 'pull' : 'push',
    status: r.status as DownlinkStatus,
    reason: r.reason,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    finishedAt: r.finished_at,
  };
}

function prepare(db: Database.Database) {
  return {
    countQueued: db.prepare("SELECT count(*) AS n FROM messages WHERE status = 'queued'"),
    countTarget: db.prepare("SELECT count(*) AS n FROM messages WHERE status = 'queued' AND target = ?"),
    oldestOfTarget: db.prepare("SELECT * FROM messages WHERE status = 'queued' AND target = ? ORDER BY seq LIMIT ?"),
    insert: db.prepare(
      `INSERT INTO messages (id, target, topic, payload, qos, retain, source, status, created_at, expires_at)
       VALUES (@id, @target, @topic, @payload, @qos, @retain, @source, 'queued', @createdAt, @expiresAt)`,
    ),
    finish: db.prepare(
      "UPDATE messages SET status = ?, reason = ?, finished_at = ? WHERE id = ? AND status = 'queued'",
    ),
    upsertRetained: db.prepare(
      'INSERT INTO retained (topic, id) VALUES (?, ?) ON CONFLICT (topic) DO UPDATE SET id = excluded.id',
    ),
    deleteRetained: db.prepare('DELETE FROM retained WHERE topic = ?'),
    queuedFor: db.prepare(
      "SELECT * FROM messages WHERE status = 'queued' AND target = ? AND expires_at > ? ORDER BY seq",
    ),
    // A range on the indexed column rather than LIKE, so the partial index serves it (';' follows ':').
    queuedUntargeted: db.prepare(
      "SELECT * FROM messages WHERE status = 'queued' AND target >= 'topic:' AND target < 'topic;' AND expires_at > ? ORDER BY seq",
    ),
    expired: db.prepare("SELECT * FROM messages WHERE status = 'queued' AND expires_at <= ? ORDER BY seq LIMIT 1000"),
    prune: db.prepare(
      "DELETE FROM messages WHERE status <> 'queued' AND finished_at <= ? AND id NOT IN (SELECT id FROM retained)",
    ),
    prunePulled: db.prepare('DELETE FROM pulled WHERE at <= ?'),
    get: db.prepare('SELECT * FROM messages WHERE id = ?'),
    retained: db.prepare('SELECT m.* FROM retained r JOIN messages m ON m.id = r.id ORDER BY m.seq'),
    isPulled: db.prepare('SELECT 1 AS x FROM pulled WHERE device_id = ? AND record_id = ?'),
    insertPulled: db.prepare('INSERT OR IGNORE INTO pulled (device_id, record_id, at) VALUES (?, ?, ?)'),
    byStatus: db.prepare('SELECT * FROM messages WHERE status = ? ORDER BY seq DESC LIMIT ?'),
    countsByStatus: db.prepare('SELECT status, count(*) AS n FROM messages GROUP BY status'),
  };
}

export class DownlinkStore implements DownlinkQueue {
  readonly #db: Database.Database;
  readonly #opts: DownlinkStoreOptions;
  readonly #st: ReturnType<typeof prepare>;
  /** Messages queued now: exact, since every status change goes through this class. */
  #queued: number;
  /** With `sync: full`: the statements that turn the WAL fsync off and on again around the deliveries' commit. */
  readonly #relaxed: [Database.Statement, Database.Statement] | undefined;
  readonly #begin: Database.Statement;
  readonly #commit: Database.Statement;
  readonly #rollback: Database.Statement;
  /** Set while deliveries wait in an open transaction for their commit at the next turn of the event loop. */
  #deliveries: NodeJS.Immediate | undefined;

  constructor(opts: DownlinkStoreOptions) {
    if (opts.dir !== null) mkdirSync(opts.dir, { recursive: true });
    this.#db = new Database(opts.dir === null ? ':memory:' : join(opts.dir, 'downlink.sqlite'));
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma(`synchronous = ${opts.sync === 'full' ? 'FULL' : 'NORMAL'}`);
    this.#db.exec(SCHEMA);
    this.#opts = opts;
    this.#st = prepare(this.#db);
    this.#relaxed =
      opts.sync === 'full'
        ? [this.#db.prepare('PRAGMA synchronous = NORMAL'), this.#db.prepare('PRAGMA synchronous = FULL')]
        : undefined;
    this.#begin = this.#db.prepare('BEGIN IMMEDIATE');
    this.#commit = this.#db.prepare('COMMIT');
    this.#rollback = this.#db.prepare('ROLLBACK');
    this.#queued = (this.#st.countQueued.get() as { n: number }).n;
  }

  /**
   * Queues a message durably (committed when this returns). Throws DownlinkQueueFullError at
   * `maxQueued`. `pulled` records the TagoIO record it came from, in the same transaction.
   */
  enqueue(input: DownlinkInput, now: number, pulled?: { deviceId: string; recordId: string }): EnqueueResult {
    this.commitDeliveries();
    const st = this.#st;
    if (this.#queued >= this.#opts.maxQueued) {
      throw new DownlinkQueueFullError(
        `${this.#queued} downlink messages are waiting (downlink.maxQueued ${this.#opts.maxQueued}); post again later`,
        { retryAfterSeconds: this.#opts.retryAfterSeconds },
      );
    }
    const run = this.#db.transaction((): EnqueueResult => {
      const overflowed: DownlinkMessage[] = [];
      const inTarget = (st.countTarget.get(input.target) as { n: number }).n;
      const over = inTarget + 1 - this.#opts.maxQueuedPerDevice;
      if (over > 0) {
        for (const r of st.oldestOfTarget.all(input.target, over) as Row[]) {
          st.finish.run('dead_letter', 'overflow', now, r.id);
          overflowed.push({ ...toMessage(r), status: 'dead_letter', reason: 'overflow', finishedAt: now });
        }
      }
      const id = randomUUID();
      st.insert.run({
        id,
        target: input.target,
        topic: input.topic,
        payload: input.payload,
        qos: input.qos,
        retain: input.retain ? 1 : 0,
        source: input.source,
        createdAt: now,
        expiresAt: now + this.#opts.ttlMs,
      });
      if (input.retain) {
        if (input.payload.length === 0) st.deleteRetained.run(input.topic);
        else st.upsertRetained.run(input.topic, id);
      }
      if (pulled) st.insertPulled.run(pulled.deviceId, pulled.recordId, now);
      const message = queuedMessage(input, id, now, this.#opts.ttlMs);
      return { message, overflowed };
    });
    const result = run();
    this.#queued += 1 - result.overflowed.length;
    return result;
  }

  /** Marks a queued message delivered; false when it was no longer queued (delivered before, expired …). */
  markDelivered(id: string, now: number, via: 'mqtt' | 'http'): boolean {
    if (this.#deliveries === undefined) {
      this.#relaxed?.[0].run();
      try {
        this.#begin.run();
      } catch (err) {
        this.#relaxed?.[1].run();
        throw err;
      }
      this.#deliveries = setImmediate(() => this.commitDeliveries());
    }
    const changed = this.#st.finish.run('delivered', via, now, id).changes > 0;
    if (changed) this.#queued--;
    return changed;
  }

  /**
   * Commits the deliveries marked since the last commit (without the WAL fsync). Called at the next turn
   * of the event loop, before every other write and at close. A failed commit leaves those messages
   * queued (they are sent again).
   */
  commitDeliveries(): void {
    if (this.#deliveries === undefined) return;
    clearImmediate(this.#deliveries);
    this.#deliveries = undefined;
    try {
      this.#commit.run();
    } catch (err) {
      if (this.#db.inTransaction) this.#rollback.run();
      this.#queued = (this.#st.countQueued.get() as { n: number }).n;
      this.#opts.onCommitFailed?.(err);
    } finally {
      this.#relaxed?.[1].run();
    }
  }

  /** Moves queued messages whose time is up to `expired` (at most 1,000 a call); returns them. */
  expire(now: number): DownlinkMessage[] {
    this.commitDeliveries();
    const st = this.#st;
    const list = this.#db.transaction(() => {
      const rows = (st.expired.all(now) as Row[]).map(toMessage);
      for (const m of rows) st.finish.run('expired', 'ttl', now, m.id);
      return rows;
    })();
    this.#queued -= list.length;
    return list.map((m) => ({ ...m, status: 'expired', reason: 'ttl', finishedAt: now }));
  }

  /** Forgets finished messages and pulled record ids older than `before`; returns how many messages. */
  prune(before: number): number {
    this.commitDeliveries();
    this.#st.prunePulled.run(before);
    return this.#st.prune.run(before).changes;
  }

  /** Queued, unexpired messages for these targets, oldest first. */
  queuedFor(targets: readonly string[], now: number): DownlinkMessage[] {
    const out: DownlinkMessage[] = [];
    for (const t of targets) for (const r of this.#st.queuedFor.all(t, now) as Row[]) out.push(toMessage(r));
    return out;
  }

  /** Queued, unexpired messages that name no device (queued under their topic), oldest first. */
  queuedUntargeted(now: number): DownlinkMessage[] {
    return (this.#st.queuedUntargeted.all(now) as Row[]).map(toMessage);
  }

  get(id: string): DownlinkMessage | undefined {
    const r = this.#st.get.get(id) as Row | undefined;
    return r ? toMessage(r) : undefined;
  }

  /** The latest messages with this status, newest first. */
  list(status: DownlinkStatus, limit: number): DownlinkMessage[] {
    return (this.#st.byStatus.all(status, limit) as Row[]).map(toMessage);
  }

  /** The retained message of every topic that has one. */
  retained(): DownlinkMessage[] {
    return (this.#st.retained.all() as Row[]).map(toMessage);
  }

  isPulled(deviceId: string, recordId: string): boolean {
    return this.#st.isPulled.get(deviceId, recordId) !== undefined;
  }

  depth(): number {
    return this.#queued;
  }

  counts(): Record<DownlinkStatus, number> {
    const out: Record<DownlinkStatus, number> = { queued: 0, delivered: 0, expired: 0, dead_letter: 0 };
    for (const r of this.#st.countsByStatus.all() as Array<{ status: DownlinkStatus; n: number }>) out[r.status] = r.n;
    return out;
  }

  close(): void {
    if (!this.#db.open) return;
    this.commitDeliveries();
    this.#db.close();
  }
}
