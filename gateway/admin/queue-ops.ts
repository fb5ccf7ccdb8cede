/**
 * What `tago-edge queue` does to a store, as one interface: run on the store itself (the gateway's admin
 * socket, or the CLI on a store no gateway holds) or through a running gateway's admin socket.
 */
import type { Route } from '../routes/routes.js';
import type { ClusterStatus } from '../store/jetstream/jetstream-store.js';
import { parseQueueKey } from '../store/queue-key.js';
import type { DeadLetter, Store } from '../store/store.js';

/** One route's share of the queue (the configured routes; `routes:` absent: one, `tagoio`). */
export interface RouteQueueStats {
  name: string;
  destination: string;
  depthPoints: number;
  depthBytes: number;
  oldestAgeMs: number;
  devicesPending: number;
  /** Dead letters that left this route's queue. */
  deadLetters: number;
  /** Since the gateway started (only through a running gateway): its state, points delivered, retries. */
  live?: { state: string; delivered: number; retries: number; deadLettered: number; lastError: string };
}

/** A running gateway's view of its routes (route-runner.ts), for `queue stats` through its admin socket. */
export type LiveRoutes = () => Array<{
  name: string;
  state: string;
  delivered: number;
  retries: number;
  deadLettered: number;
  lastError: string;
}>;

export interface QueueStats {
  path: string;
  depthPoints: number;
  depthBytes: number;
  oldestAgeMs: number;
  deadLetters: number;
  maxBytes: number;
  /** How many devices have pending points (a count only: tokens are secrets). */
  devicesPending: number;
  routes: RouteQueueStats[];
  /**
   * `store.engine: jetstream`: the stream's replicas and leader, this node's partitions and its consumers'
   * lag. Depths above are the stream's; a route's depth is what this node holds of it.
   */
  cluster?: ClusterStatus;
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

export function localQueueOps(store: Store, path: string, routes: readonly Route[], live?: LiveRoutes): QueueOps {
  return {
    async stats() {
      const letters = await store.listDeadLetters(Number.MAX_SAFE_INTEGER);
      const now = live?.() ?? [];
      const cluster =
        'clusterStatus' in store ? (store as { clusterStatus(): ClusterStatus }).clusterStatus() : undefined;
      return {
        ...(cluster ? { cluster } : {}),
        path,
        ...store.stats(),
        devicesPending: new Set(store.pendingTokens(Number.MAX_SAFE_INTEGER).map(tokenOfKey)).size,
        routes: routes.map((r) => {
          const l = now.find((x) => x.name === r.name);
          return {
            name: r.name,
            destination: r.config.destination.type,
            ...store.queueShare(r.space.owns),
            devicesPending: store.pendingTokens(Number.MAX_SAFE_INTEGER, undefined, r.space.owns).length,
            deadLetters: deadLettersOfRoute(letters, r.name, routes).length,
            ...(l
              ? {
                  live: {
                    state: l.state,
                    delivered: l.delivered,
                    retries: l.retries,
                    deadLettered: l.deadLettered,
                    lastError: l.lastError,
                  },
                }
              : {}),
          };
        }),
      };
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

function tokenOfKey(key: string): string {
  return parseQueueKey(key).token;
}

/** The dead letters of one route (a dead letter without a route is the primary route's). */
export function deadLettersOfRoute(list: readonly DeadLetter[], route: string, routes: readonly Route[]): DeadLetter[] {
  const primary = routes.find((r) => r.primary)?.name;
  return list.filter((d) => (d.route ?? primary) === route);
}
