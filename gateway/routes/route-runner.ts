/**
 * The routes as the gateway runs them: for each, a queue view of the one store (route-queue.ts), a
 * destination (destinations/) and a forwarder of its own. Nothing is shared between routes but the store:
 * one route's outage, back-off or rate limit never holds another's deliveries.
 */
import type { DeviceDirectory } from '../auth/device-directory.js';
import { type Clock, systemClock } from '../clock.js';
import type { Config } from '../config/schema.js';
import { type DeliverySettings, Forwarder, type UpstreamState } from '../forward/forwarder.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { Destination } from './destination.js';
import { HttpDestination } from './destinations/http.js';
import { MqttDestination } from './destinations/mqtt.js';
import { PostgresDestination } from './destinations/postgres.js';
import { TagoioDestination } from './destinations/tagoio.js';
import { RouteQueue } from './route-queue.js';
import type { Route } from './routes.js';

/** A route's delivery settings: its own where set, else the `upstream.*` ones (TagoIO's pacing only for TagoIO). */
export function deliverySettings(route: Route, upstream: Config['upstream']): DeliverySettings {
  const d = route.config.delivery;
  return {
    maxInFlight: d.maxInFlight ?? upstream.maxInFlight,
    batchMaxBytes: d.batchMaxBytes ?? upstream.batchMaxBytes,
    batchWaitMs: d.batchWaitMs ?? upstream.batchWaitMs,
    requestsPerMinute:
      d.requestsPerMinute ?? (route.config.destination.type === 'tagoio' ? upstream.requestsPerMinute : 0),
    retryBaseMs: d.retryBaseMs ?? upstream.retryBaseMs,
    retryMaxMs: d.retryMaxMs ?? upstream.retryMaxMs,
  };
}

function createDestination(
  route: Route,
  settings: DeliverySettings,
  upstream: Config['upstream'],
  log: Logger,
  clock: Clock,
): Destination {
  const d = route.config.destination;
  switch (d.type) {
    case 'tagoio':
      return new TagoioDestination({
        url: d.url ?? upstream.url,
        timeoutMs: upstream.timeoutMs,
        connections: settings.maxInFlight,
        now: () => clock.now(),
        monotonic: () => clock.monotonic(),
      });
    case 'http':
      return new HttpDestination(d, { route: route.name, connections: settings.maxInFlight, now: () => clock.now() });
    case 'postgres':
      return new PostgresDestination(d, { route: route.name, poolSize: settings.maxInFlight, log });
    case 'mqtt':
      return new MqttDestination(d, { route: route.name, log, clock });
  }
}

export interface RouteStatus {
  name: string;
  destination: string;
  state: UpstreamState;
  depthPoints: number;
  depthBytes: number;
  oldestAgeMs: number;
  inFlight: number;
  consecutiveFailures: number;
  lastSuccessAt: string | null;
  lastError: string;
  delivered: number;
  retries: number;
  deadLettered: number;
}

export class RouteRunner {
  readonly forwarders: Forwarder[];
  private readonly queues: RouteQueue[];

  constructor(
    readonly routes: readonly Route[],
    store: Store,
    directory: DeviceDirectory,
    upstream: Config['upstream'],
    log: Logger,
    clock: Clock = systemClock,
  ) {
    this.queues = routes.map((r) => new RouteQueue(store, r.space));
    // The store's total (cheap) tells a backlog; a route's own depth walks its devices.
    const queued = () => store.stats().depthBytes;
    this.forwarders = routes.map((r, i) => {
      const settings = deliverySettings(r, upstream);
      const destination = createDestination(r, settings, upstream, log, clock);
      const lag = r.config.whenLagging === 'dead_letter' ? r.config.maxLagMs : undefined;
      return new Forwarder(
        {
          name: r.name,
          primary: r.primary,
          delivery: settings,
          ...(lag === undefined ? {} : { deadLetterAfterMs: lag }),
        },
        this.queues[i] as RouteQueue,
        directory,
        destination,
        log,
        clock,
        Math.random,
        queued,
      );
    });
  }

  /** The primary (first TagoIO) route's forwarder: `/readyz`'s `upstream`; else the first route's. */
  get primary(): Forwarder {
    const i = this.routes.findIndex((r) => r.primary);
    return this.forwarders[Math.max(i, 0)] as Forwarder;
  }

  start(): void {
    for (const f of this.forwarders) f.start();
  }

  async stop(graceMs: number): Promise<void> {
    await Promise.all(this.forwarders.map((f) => f.stop(graceMs)));
  }

  status(): RouteStatus[] {
    return this.routes.map((r, i) => {
      const f = this.forwarders[i] as Forwarder;
      const q = (this.queues[i] as RouteQueue).share();
      const s = f.state();
      return {
        name: r.name,
        destination: r.config.destination.type,
        state: s.state,
        depthPoints: q.depthPoints,
        depthBytes: q.depthBytes,
        oldestAgeMs: q.oldestAgeMs,
        inFlight: s.inFlight,
        consecutiveFailures: s.consecutiveFailures,
        lastSuccessAt: s.lastSuccessAt,
        lastError: s.lastError,
        ...f.totals(),
      };
    });
  }
}
