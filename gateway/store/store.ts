/**
 * The store seam between ingest and forwarding.
 *
 * Invariants every implementation keeps:
 * - `append` resolves only once the records are durable (for the SQLite store: committed and synced per
 *   `store.sync`); ingest acknowledges (HTTP 200, MQTT PUBACK) only after it resolves. It rejects with
 *   StoreFullError when `store.maxBytes` would be exceeded and `whenFull` is `block`.
 * - Per device, points come out of `peek` in the order they were appended. The points of one append may be
 *   stored together and then leave together (one id); `peek`'s `maxBytes` is honoured at that granularity,
 *   and always returns at least one entry.
 * - `deadLetter`, `addDeadLetter` and any quarantine publish `events.deadLetter` (callers do not), so the
 *   dead-letter metric counts each point once.
 * - A point leaves the store only through `acknowledge` (TagoIO answered 2xx), `deadLetter`, or a counted
 *   `drop_oldest` eviction.
 */
import type { DataRecord } from '../model.js';

export interface PendingBatch {
  token: string;
  /**
   * Store ids of the stored entries that hold these points, in order; pass them back to ack/deadLetter.
   * An entry may hold several points (the SQLite store keeps one row per append), so use `points` to count.
   */
  ids: number[];
  /** How many points (records) the batch holds. */
  points: number;
  /** The records, in order. */
  records: DataRecord[];
  /** Bytes of the JSON array that `records` serialises to. */
  bytes: number;
  /** The JSON array text, ready to send (built from the stored rows without re-serialising). */
  body: string;
  /**
   * The records by stored entry (parsed when read): a destination that keys each point (the PostgreSQL
   * route) names a point by its entry's id and its place in it, the same on every redelivery.
   */
  readonly entries: ReadonlyArray<{ id: number; records: DataRecord[] }>;
}

/** Which queue keys a caller reads (one route's, see gateway/routes/route-space.ts); every key when absent. */
export type KeyFilter = (key: string) => boolean;

/** One part of the queue's depth (one route's keys). */
export interface QueueShare {
  depthPoints: number;
  depthBytes: number;
  /** Milliseconds since the oldest of these points was appended; 0 when none. */
  oldestAgeMs: number;
}

export interface StoreStats {
  depthPoints: number;
  depthBytes: number;
  /** Milliseconds since the oldest pending point was appended; 0 when empty. */
  oldestAgeMs: number;
  deadLetters: number;
  maxBytes: number;
}

export interface DeadLetter {
  id: number;
  /** The device id (never the token). */
  deviceId: string;
  reason: string;
  message: string;
  /** The records, or, for a publish that failed parsing, the raw payload record. */
  records: unknown[];
  topic?: string;
  /** The route whose queue it left, when not the primary TagoIO route (gateway/store/queue-key.ts). */
  route?: string;
  createdAt: string;
}

export interface DeadLetterInput {
  token: string;
  deviceId: string;
  /** A stable code, e.g. EDGE_ERR_PARSER or upstream_400. */
  reason: string;
  message: string;
  records: unknown[];
  topic?: string;
}

/**
 * The queue of points waiting for TagoIO: what ingest writes to and the forwarder reads from. An engine
 * (SQLite, memory, JetStream) implements it; callers take only this role.
 */
export interface PointQueue {
  /** Durably appends a device's records. Resolves after the commit; rejects StoreFullError / StoreWriteError. */
  append(token: string, records: DataRecord[]): Promise<void>;
  /** Tokens (queue keys) that have pending points, oldest first; excludes the given ones, keeps those `owns` takes. */
  pendingTokens(limit: number, exclude?: ReadonlySet<string>, owns?: KeyFilter): string[];
  /** The depth of the keys `owns` takes (per-route figures; walks the pending devices, not per message). */
  queueShare(owns: KeyFilter): QueueShare;
  /**
   * The fraction of the queue this process forwards (a cluster node: the share of partitions it holds);
   * the forwarders scale a shared request budget by it. 1 when absent.
   */
  forwardShare?(): number;
  /** When the stored entry `id` was appended (epoch ms), while it is pending; for `maxLagMs`. */
  appendedAt?(id: number): number | undefined;
  /** How many bytes of one device's points are pending (counted as `maxBytes` counts them); 0 if none. */
  pendingBytes(token: string): number;
  /** The oldest pending points of one device, up to `maxBytes` of JSON (at least one stored entry). */
  peek(token: string, maxBytes: number): PendingBatch | null;
  /**
   * TagoIO accepted these points: remove them in the store's next group commit, shared with the appends
   * queued then (the forwarder's path: one transaction instead of one per response). Resolves once they
   * are gone; until then `peek` may still return them, so the caller holds the device meanwhile.
   * Rejects with StoreWriteError or ShuttingDownError; the points then stay and are sent again.
   */
  acknowledge(ids: number[]): Promise<void>;
  /**
   * Moves points to the dead letters with a reason (upstream 400/401/403), in one transaction: a point is
   * never in both, nor in neither. Resolves once done; until then `peek` may still return them.
   */
  deadLetter(ids: number[], reason: string, message: string): Promise<void>;
  stats(): StoreStats;
  /** Called after every commit that added points (the forwarder wakes on it). */
  onAppend(listener: () => void): void;
  /** Called when space frees (after ack, dead letter or drop): blocked writers retry. */
  onSpace(listener: () => void): void;
  /** True while the store can take `bytes` more. */
  hasRoom(bytes: number): boolean;
}

/** Messages kept for an operator: points TagoIO rejected, publishes that never became points. */
export interface DeadLetters {
  /** Keeps a message that never became points (parse or validation failure on MQTT). */
  addDeadLetter(input: DeadLetterInput): Promise<void>;
  /** Oldest first. The cluster store reads them from its stream, so callers await. */
  listDeadLetters(limit?: number): DeadLetter[] | Promise<DeadLetter[]>;
  /** Moves dead letters back into the queue (all, or those with the given ids); resolves to how many points. */
  replayDeadLetters(ids?: number[]): Promise<number>;
}

/** Device tokens TagoIO refused, remembered across restarts. */
export interface TokenDenyList {
  /** Resolves once the refusal is stored; `isRefused(token)` is true from then on. */
  refuseToken(token: string): Promise<void>;
  isRefused(token: string): boolean;
  refusedTokens(): string[];
  /**
   * Calls `listener` with each token refused elsewhere after start (the cluster store: another node's
   * forwarder). Stores that only this process writes do not need it.
   */
  onRefused?(listener: (token: string) => void): void;
}

/** A store engine: every role, and its lifecycle. */
export interface Store extends PointQueue, DeadLetters, TokenDenyList {
  close(): Promise<void>;
}
