/**
 * The gateway's routes as it runs them: each with its queue space in the store and its compiled filter
 * and transform. `routes:` absent means one route, `tagoio`, to `upstream.url`, the primary.
 */
import type { RouteConfig } from '../config/routes-schema.js';
import type { Config } from '../config/schema.js';
import type { DataRecord, Device } from '../model.js';
import type { KeyFilter, PointQueue } from '../store/store.js';
import { parseQueueKey, type RouteSpace, routeSpace } from './route-space.js';
import { compileSelect, type RouteSelect } from './select.js';

export interface Route {
  name: string;
  config: RouteConfig;
  space: RouteSpace;
  /** The first TagoIO route: bare-token keys, refused tokens, downlink status reports. */
  primary: boolean;
  select: RouteSelect | null;
}

export const DEFAULT_ROUTE: RouteConfig = {
  name: 'tagoio',
  destination: { type: 'tagoio' },
  delivery: {},
  whenLagging: 'hold',
};

export function planRoutes(config: Pick<Config, 'routes'>): Route[] {
  const list = config.routes ?? [DEFAULT_ROUTE];
  const primaryName = list.find((r) => r.destination.type === 'tagoio')?.name;
  return list.map((r) => ({
    name: r.name,
    config: r,
    space: routeSpace(r.name, r.name === primaryName),
    primary: r.name === primaryName,
    select: compileSelect(r),
  }));
}

/** What the ingest pipeline's store stage appends to. */
export interface RoutedAppend {
  /** Durably appends what each route takes of these records; resolves once every route's copy is committed. */
  append(device: Device, records: DataRecord[]): Promise<void>;
}

/**
 * Writes each route's copy of an append. The copies are queued together, so the store's group commit puts
 * them in one transaction; the acknowledgement waits for all of them. If one fails (store full), the device
 * is refused and sends again: a route that already had its copy gets a duplicate, none loses a point.
 */
export class RouteFanOut implements RoutedAppend {
  private readonly only: Route | null;

  constructor(
    private readonly routes: readonly Route[],
    private readonly queue: Pick<PointQueue, 'append'>,
  ) {
    const r = routes[0];
    // One route that takes everything unchanged (no routes configured): the plain append, nothing more.
    this.only = routes.length === 1 && r !== undefined && r.primary && r.select === null ? r : null;
  }

  append(device: Device, records: DataRecord[]): Promise<void> {
    if (this.only) return this.queue.append(device.token, records);
    const writes: Array<Promise<void>> = [];
    for (const r of this.routes) {
      const taken = r.select ? r.select(device, records) : records;
      if (taken) writes.push(this.queue.append(r.space.key(device.token), taken));
    }
    return writes.length === 1 ? (writes[0] as Promise<void>) : Promise.all(writes).then(() => undefined);
  }
}

/** Queue keys no configured route owns (a route renamed or removed), with their device tokens and routes. */
export function orphanKeys(routes: readonly Route[], queue: Pick<PointQueue, 'pendingTokens'>): string[] {
  const owned: KeyFilter = (key) => routes.some((r) => r.space.owns(key));
  return queue.pendingTokens(Number.MAX_SAFE_INTEGER, undefined, (key) => !owned(key));
}

/** The route named in a queue key, as an operator reads it (`tagoio` for the bare primary keys). */
export function routeOfKey(routes: readonly Route[], key: string): string {
  const { route } = parseQueueKey(key);
  return route ?? routes.find((r) => r.primary)?.name ?? 'tagoio';
}
