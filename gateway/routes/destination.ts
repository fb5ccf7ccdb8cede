/**
 * A route's destination: where one device's batch of stored points is delivered, and how the answer is
 * read. The route's forwarder (gateway/forward/forwarder.ts) owns everything else — which batch goes when,
 * one delivery in flight per device (per-device order), pacing, back-off, the store's ack and dead letters —
 * so a destination is a small module: deliver, classify, close.
 *
 * Invariant every destination keeps: it answers `delivered` only when the other side has the points
 * durably by its own contract (TagoIO's and a webhook's 2xx, PostgreSQL's COMMIT, the broker's PUBACK);
 * anything it cannot be sure of is `retry`, never `delivered` and never lost. `dead_letter` is for a batch
 * the other side refused for good (sending it again would be refused again).
 */
import { createHash } from 'node:crypto';
import type { DataRecord } from '../model.js';
import type { PendingBatch } from '../store/store.js';

export interface Delivery {
  /** The device's token: only a TagoIO destination sends it anywhere. */
  token: string;
  /** The device as operators name it (safe for logs, topics and tables). */
  device: { id: string; name: string };
  /** The points, oldest first; `entries` names each point for a destination that keys them. */
  batch: PendingBatch;
}

export type DeliveryOutcome =
  | { kind: 'delivered' }
  /** Keep the points and try again later (network error, timeout, 5xx, the server down). */
  | { kind: 'retry'; error: string; retryAfterMs?: number }
  /** The destination as a whole asks to slow down (429): the route pauses for `retryAfterMs`. */
  | { kind: 'rate_limited'; error: string; retryAfterMs: number }
  /**
   * Refused for good: the points become dead letters with `reason` (a stable code) and `message`.
   * `refuseToken`: TagoIO refused the device token itself (401/403); on the primary route the token is then
   * refused at ingest too.
   */
  | { kind: 'dead_letter'; reason: string; message: string; refuseToken?: boolean };

export interface Destination {
  /** `tagoio`, `http`, `postgres` or `mqtt` (logs and metrics). */
  readonly type: string;
  /** Delivers one device's batch. Never rejects: every failure is an outcome. */
  deliver(delivery: Delivery): Promise<DeliveryOutcome>;
  /** Closes connections; deliveries after it answer `retry`. */
  close(): Promise<void>;
}

/**
 * A point's id, the same on every redelivery of the same stored point: the device, the stored entry's id,
 * the point's place in the entry and the record itself (so an entry id a store reuses after a restart can
 * never collide with an earlier, different point). 32 hex characters (128 bits of SHA-256).
 */
export function pointId(deviceId: string, entryId: number, index: number, record: DataRecord): string {
  return createHash('sha256')
    .update(`${deviceId}\n${entryId}\n${index}\n${JSON.stringify(record)}`)
    .digest('hex')
    .slice(0, 32);
}

/** Each point of a batch with its id, in order. */
export function* pointsOf(delivery: Delivery): Generator<{ id: string; record: DataRecord }> {
  for (const entry of delivery.batch.entries) {
    let i = 0;
    for (const record of entry.records) yield { id: pointId(delivery.device.id, entry.id, i++, record), record };
  }
}

/** An error as text for logs and outcomes: its message, never a stack. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
