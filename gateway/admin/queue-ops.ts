/**
 * What `tago-edge queue` does to a store, as one interface: run on the store itself (the gateway's admin
 * socket, or the CLI on a store no gateway holds) or through a running gateway's admin socket.
 */
import type { DeadLetter, Store } from '../store/store.js';

export interface QueueStats {
  path: string;
  depthPoints: number;
  depthBytes: number;
  oldestAgeMs: number;
  deadLetters: number;
  maxBytes: number;
  /** How many devices have pending points (a count only: tokens are secrets). */
  devicesPending: number;
}

export interface ReplayResult {
  /** Dead letters moved back into the queue. */
  deadLetters: number;
  /** Points they held. */
  points: number;
}

export interface QueueOps {
  stats(): Promise<QueueStats>;
  deadLetters(limit: number): Promise<DeadLetter[]>;
  /** All dead letters when `ids` is undefined. */
  replay(ids: number[] | undefined): Promise<ReplayResult>;
}

export function localQueueOps(store: Store, path: string): QueueOps {
  return {
    async stats() {
      return { path, ...store.stats(), devicesPending: store.pendingTokens(Number.MAX_SAFE_INTEGER).length };
    },
    async deadLetters(limit) {
      return store.listDeadLetters(limit);
    },
    async replay(ids) {
      const before = store.stats().deadLetters;
      const points = await store.replayDeadLetters(ids);
      return { deadLetters: before - store.stats().deadLetters, points };
    },
  };
}
