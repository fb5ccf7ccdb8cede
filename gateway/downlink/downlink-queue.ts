/**
 * What the downlink service needs of its store, whichever runs: the node-local SQLite file
 * (downlink-store.ts) or the cluster's JetStream bucket (jetstream-downlink-store.ts). Writes may be
 * asynchronous (a quorum's acknowledgement); reads are synchronous (the cluster store reads a cache its
 * watch keeps current). Every write has the effect the SQLite store's invariants state, or none.
 */
import type { DownlinkInput, DownlinkMessage, DownlinkStatus, EnqueueResult } from './downlink-store.js';

export interface PulledRecord {
  deviceId: string;
  recordId: string;
}

export interface DownlinkQueue {
  /** Queues a message durably: stored when the returned value (or promise) is there. */
  enqueue(input: DownlinkInput, now: number, pulled?: PulledRecord): EnqueueResult | Promise<EnqueueResult>;
  /** queued → delivered, once; false when it was no longer queued (here or on another node). */
  markDelivered(id: string, now: number, via: 'mqtt' | 'http'): boolean | Promise<boolean>;
  /** queued → expired for those whose time is up (at most 1,000 a call); the ones this call moved. */
  expire(now: number): DownlinkMessage[] | Promise<DownlinkMessage[]>;
  prune(before: number): number | Promise<number>;
  queuedFor(targets: readonly string[], now: number): DownlinkMessage[];
  queuedUntargeted(now: number): DownlinkMessage[];
  get(id: string): DownlinkMessage | undefined;
  list(status: DownlinkStatus, limit: number): DownlinkMessage[];
  retained(): DownlinkMessage[];
  isPulled(deviceId: string, recordId: string): boolean;
  depth(): number;
  counts(): Record<DownlinkStatus, number>;
  /**
   * Messages another node queued, as this node learns of them (the cluster store): the service hands them
   * to the devices subscribed here. The SQLite store has no other writer and no such listener.
   */
  onQueuedElsewhere?(listener: (msg: DownlinkMessage) => void): void;
  close(): void | Promise<void>;
}

/** A message as it is queued: its input, a fresh state, and its expiry `ttlMs` after `now`. */
export function queuedMessage(input: DownlinkInput, id: string, now: number, ttlMs: number): DownlinkMessage {
  return { ...input, id, status: 'queued', reason: null, createdAt: now, expiresAt: now + ttlMs, finishedAt: null };
}
