/**
 * Delivers one route's stored points to its destination (gateway/routes/destinations/): one device per
 * delivery, its oldest points up to `batchMaxBytes`, in per-device order (one delivery in flight per device),
 * at most `maxInFlight` at once, paced by `Pacer` at `requestsPerMinute` (0: unpaced). Each route has its
 * own forwarder, queue view, pacer and back-off, so one route's outage never delays another's deliveries.
 *
 * Invariant: a point leaves the route's queue only when the destination answered `delivered` (ack), or
 * refused it for good (`dead_letter`, with the destination's reason; on the primary route a TagoIO 401/403
 * also refuses the token at ingest from then on). Everything else keeps the points and retries with
 * exponential backoff and full jitter, honouring Retry-After. `rate_limited` pauses the whole route: TagoIO's
 * limit is per profile, not per device. With `whenLagging: dead_letter`, points older than `maxLagMs` leave
 * as dead letters (`lagging`) instead of holding the store.
 */
import type { DeviceDirectory } from '../auth/device-directory.js';
import { deviceIdOf } from '../auth/device-directory.js';
import { type Clock, type ClockTimer, systemClock } from '../clock.js';
import type { Config } from '../config/schema.js';
import { events } from '../events.js';
import type { Logger } from '../log.js';
import { type DeliveryOutcome, type Destination, errorText } from '../routes/destination.js';
import { TagoioDestination } from '../routes/destinations/tagoio.js';
import type { PendingBatch, PointQueue, TokenDenyList } from '../store/store.js';
import { Pacer } from './pacer.js';
import { backoffMs } from './retry-policy.js';

/** How one route delivers: its pacing, batching and retries (gateway/routes/routes.ts resolves the defaults). */
export interface DeliverySettings {
  maxInFlight: number;
  batchMaxBytes: number;
  batchWaitMs: number;
  /** Deliveries per minute; 0: unpaced. */
  requestsPerMinute: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

export interface ForwardRoute {
  name: string;
  /** The first TagoIO route: a TagoIO 401/403 refuses the token at ingest. */
  primary: boolean;
  delivery: DeliverySettings;
  /** Points older than this leave as dead letters (`whenLagging: dead_letter`); undefined: held. */
  deadLetterAfterMs?: number;
}

export type UpstreamState = 'unknown' | 'ok' | 'degraded' | 'down';

interface Backoff {
  until: number;
  attempt: number;
  /** Set while the upstream as a whole was failing (outage), not just this device: cleared on recovery. */
  outage: boolean;
}

/** Failures in a row, across devices, that mark TagoIO as down rather than one device as troubled. */
const OUTAGE_AFTER = 2;

export class Forwarder {
  private running = false;
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly backoff = new Map<string, Backoff>();
  /** When each device's last delivery went out (for the per-device batching interval). */
  private readonly lastSent = new Map<string, number>();
  private readonly pacer: Pacer | null;
  private readonly settings: DeliverySettings;
  private wakeTimer: ClockTimer | null = null;
  private wakeAt = 0;
  private consecutiveFailures = 0;
  /**
   * For a minute after a 429, one delivery at a time: the destination's window allows fewer requests than
   * configured, and a burst of `maxInFlight` would meet as many refusals each window.
   */
  private serialUntil = 0;
  /** After a 429: no delivery of this route before then (the destination's limit is the route's, not a device's). */
  private pausedUntil = 0;
  private lastSuccessAt = 0;
  private lastError = '';
  private readonly counts = { delivered: 0, retries: 0, deadLettered: 0 };

  /** A forwarder to TagoIO at `upstream.url`, the gateway's one route when `routes:` is absent. */
  static toTagoio(
    upstream: Config['upstream'],
    queue: PointQueue & TokenDenyList,
    directory: DeviceDirectory,
    log: Logger,
    clock: Clock = systemClock,
    random: () => number = Math.random,
  ): Forwarder {
    const destination = new TagoioDestination({
      url: upstream.url,
      timeoutMs: upstream.timeoutMs,
      connections: upstream.maxInFlight,
      now: () => clock.now(),
      monotonic: () => clock.monotonic(),
    });
    const route: ForwardRoute = { name: 'tagoio', primary: true, delivery: upstream };
    return new Forwarder(route, queue, directory, destination, log, clock, random);
  }

  constructor(
    private readonly route: ForwardRoute,
    private readonly queue: PointQueue & TokenDenyList,
    private readonly directory: DeviceDirectory,
    private readonly destination: Destination,
    private readonly log: Logger,
    /** Time for pacing, back-off and batching waits (tests drive it by hand); `random` is the back-off's jitter. */
    private readonly clock: Clock = systemClock,
    private readonly random: () => number = Math.random,
    /**
     * Bytes queued, read after every commit that added points: from a full batch on, new points go at once
     * (a backlog) instead of waiting batchWaitMs. The route's own depth by default; the store's total when
     * several routes share it (cheap, where a route's own depth walks its devices).
     */
    private readonly queuedBytes: () => number = () => queue.stats().depthBytes,
  ) {
    this.settings = route.delivery;
    const rpm = route.delivery.requestsPerMinute;
    this.pacer =
      rpm > 0
        ? new Pacer(
            rpm,
            60_000,
            () => clock.now(),
            () => queue.forwardShare?.() ?? 1,
          )
        : null;
    queue.onAppend(() =>
      this.schedule(this.queuedBytes() >= this.settings.batchMaxBytes ? 0 : this.settings.batchWaitMs),
    );
  }

  get name(): string {
    return this.route.name;
  }

  start(): void {
    this.running = true;
    this.schedule(0);
  }

  /** Stops taking new batches; waits up to `graceMs` for deliveries in flight, then closes the destination. */
  async stop(graceMs: number): Promise<void> {
    this.running = false;
    if (this.wakeTimer) this.clock.clearTimeout(this.wakeTimer);
    this.wakeTimer = null;
    const all = Promise.allSettled([...this.inFlight.values()]);
    await Promise.race([all, new Promise((r) => this.clock.setTimeout(() => r(undefined), graceMs).unref?.())]);
    await this.destination.close().catch(() => undefined);
  }

  state(): {
    state: UpstreamState;
    consecutiveFailures: number;
    lastSuccessAt: string | null;
    lastError: string;
    inFlight: number;
  } {
    let state: UpstreamState = 'unknown';
    if (this.lastSuccessAt > 0 || this.consecutiveFailures > 0) {
      state = this.consecutiveFailures === 0 ? 'ok' : this.consecutiveFailures < 5 ? 'degraded' : 'down';
    }
    return {
      state,
      consecutiveFailures: this.consecutiveFailures,
      lastSuccessAt: this.lastSuccessAt ? new Date(this.lastSuccessAt).toISOString() : null,
      lastError: this.lastError,
      inFlight: this.inFlight.size,
    };
  }

  /** Deliveries since start: points delivered, failed attempts retried, points dead-lettered. */
  totals(): { delivered: number; retries: number; deadLettered: number } {
    return { ...this.counts };
  }

  /** Runs `pump` after `ms`, unless a sooner run is already scheduled. */
  private schedule(ms: number): void {
    if (!this.running) return;
    const at = this.clock.now() + ms;
    if (this.wakeTimer && this.wakeAt <= at) return;
    if (this.wakeTimer) this.clock.clearTimeout(this.wakeTimer);
    this.wakeAt = at;
    this.wakeTimer = this.clock.setTimeout(() => {
      this.wakeTimer = null;
      this.pump();
    }, ms);
  }

  private pump(): void {
    if (!this.running) return;
    const now = this.clock.now();
    if (now < this.pausedUntil) {
      this.schedule(this.pausedUntil - now);
      return;
    }
    let nextWake = Number.POSITIVE_INFINITY;
    const exclude = new Set<string>(this.inFlight.keys());
    // A device gets at most one delivery per batchWaitMs, so under steady load its points ride together
    // instead of one request each (TagoIO counts requests against the profile's per-minute limit, and each
    // costs both sides CPU). A backlog waits for nothing: a delivery that left points behind is followed at
    // once (send() does not start the interval), and so is a device whose pending points fill a batch.
    for (const [token, at] of this.lastSent) {
      const wait = at + this.settings.batchWaitMs - now;
      if (wait <= 0) this.lastSent.delete(token);
      else if (this.queue.pendingBytes(token) < this.settings.batchMaxBytes) {
        exclude.add(token);
        nextWake = Math.min(nextWake, wait);
      }
    }
    for (const [token, b] of this.backoff) {
      if (b.until > now) {
        exclude.add(token);
        nextWake = Math.min(nextWake, b.until - now);
      }
    }
    // While the destination is down, one delivery at a time probes it; after a 429, one at a time for a minute.
    const down = this.consecutiveFailures >= OUTAGE_AFTER;
    const limit = down || now < this.serialUntil ? 1 : this.settings.maxInFlight;
    while (this.inFlight.size < limit) {
      const tokens = this.queue.pendingTokens(limit - this.inFlight.size, exclude);
      if (tokens.length === 0) break;
      let paced = false;
      for (const token of tokens) {
        const wait = this.pacer?.take() ?? 0;
        if (wait > 0) {
          nextWake = Math.min(nextWake, wait);
          paced = true;
          break;
        }
        exclude.add(token);
        const p = this.send(token)
          .catch((err: unknown) => {
            // A store error mid-send (e.g. closed under a shutdown): the points stay and go again later.
            this.log.error({ err, route: this.route.name, device: deviceIdOf(token) }, 'forwarding a batch failed');
          })
          .finally(() => {
            this.inFlight.delete(token);
            this.schedule(0);
          });
        this.inFlight.set(token, p);
      }
      if (paced) break;
    }
    if (Number.isFinite(nextWake)) this.schedule(nextWake);
  }

  /**
   * The destination answered again after an outage: the devices that were waiting only because of the
   * outage go now, so the backlog drains as fast as the pacer allows instead of when each backoff runs out.
   */
  private recovered(): void {
    let released = 0;
    for (const [token, b] of this.backoff) {
      if (b.outage) {
        this.backoff.delete(token);
        released++;
      }
    }
    this.log.info({ route: this.route.name, released }, 'destination reachable again; draining the backlog');
  }

  private async send(token: string): Promise<void> {
    const batch = this.queue.peek(token, this.settings.batchMaxBytes);
    if (!batch) return;
    // The interval starts when a delivered batch took everything the device had pending; what arrives next
    // waits to fill a batch. A delivery that leaves points behind (a backlog) starts none, nor does a failed one.
    const tookAll = this.queue.pendingBytes(token) < batch.bytes;
    const deviceId = deviceIdOf(token);
    if (await this.deadLetterIfLagging(batch, deviceId)) return;
    const started = this.clock.monotonic();
    let outcome: DeliveryOutcome;
    try {
      outcome = await this.destination.deliver({
        token,
        device: { id: deviceId, name: this.directory.nameOf(token) },
        batch,
      });
    } catch (err) {
      // Destinations answer every failure as an outcome; a throw is a bug, and still never loses the points.
      outcome = { kind: 'retry', error: errorText(err) };
    }
    events.routeDelivery.publish({
      route: this.route.name,
      outcome: outcome.kind,
      points: batch.points,
      durationMs: this.clock.monotonic() - started,
    });
    switch (outcome.kind) {
      case 'delivered':
        try {
          // Removed in the store's next group commit, with the queued appends and the other deliveries'
          // acks (one transaction instead of one per response). The delivery's inFlight entry is held until
          // then, so the device's next `peek` never sees these points again.
          await this.queue.acknowledge(batch.ids);
        } catch (err) {
          // The points stay in the store and go again (at least once); e.g. the store closed at shutdown.
          this.log.warn(
            { route: this.route.name, device: deviceId, points: batch.points, err: (err as Error).message },
            'delivered points could not be removed from the store; they will be sent again',
          );
        }
        this.counts.delivered += batch.points;
        this.backoff.delete(token);
        if (tookAll && this.settings.batchWaitMs > 0) this.lastSent.set(token, this.clock.now());
        if (this.consecutiveFailures >= OUTAGE_AFTER) this.recovered();
        this.consecutiveFailures = 0;
        this.lastSuccessAt = this.clock.now();
        return;
      case 'rate_limited': {
        const until = this.clock.now() + outcome.retryAfterMs;
        this.pacer?.pause(until);
        this.pausedUntil = Math.max(this.pausedUntil, until);
        this.serialUntil = until + 60_000;
        this.lastError = outcome.error;
        this.counts.retries += 1;
        this.log.warn(
          { route: this.route.name, device: deviceId, retryAfterSeconds: outcome.retryAfterMs / 1000 },
          'destination rate limit reached; pausing this route',
        );
        return;
      }
      case 'dead_letter': {
        // The store publishes the dead-letter event (one place, so the metric counts each point once).
        await this.queue.deadLetter(batch.ids, outcome.reason, outcome.message);
        this.counts.deadLettered += batch.points;
        this.consecutiveFailures = 0;
        if (outcome.refuseToken && this.route.primary) {
          await this.queue.refuseToken(token);
          this.directory.refuse(token);
          this.log.warn(
            { route: this.route.name, device: deviceId, reason: outcome.reason, message: outcome.message },
            'TagoIO refused the device token; refusing it at ingest from now on',
          );
        } else {
          this.log.warn(
            {
              route: this.route.name,
              device: deviceId,
              reason: outcome.reason,
              message: outcome.message,
              points: batch.points,
            },
            'the destination rejected a batch; kept as a dead letter',
          );
        }
        return;
      }
      case 'retry': {
        const prev = this.backoff.get(token);
        const attempt = (prev?.attempt ?? 0) + 1;
        const wait = Math.max(
          outcome.retryAfterMs ?? 0,
          backoffMs(attempt, this.settings.retryBaseMs, this.settings.retryMaxMs, this.random),
        );
        this.consecutiveFailures += 1;
        this.counts.retries += 1;
        this.backoff.set(token, {
          until: this.clock.now() + wait,
          attempt,
          outage: this.consecutiveFailures >= OUTAGE_AFTER,
        });
        this.lastError = outcome.error;
        this.log.warn(
          { route: this.route.name, device: deviceId, attempt, retryInMs: wait, error: this.lastError },
          'forward failed; will retry',
        );
        return;
      }
    }
  }

  /**
   * `whenLagging: dead_letter`: a batch whose oldest point waited longer than `maxLagMs` leaves the queue as
   * dead letters (reason `lagging`, replayable) instead of being delivered, so a route down for long stops
   * holding the store. True when it did.
   */
  private async deadLetterIfLagging(batch: PendingBatch, deviceId: string): Promise<boolean> {
    const after = this.route.deadLetterAfterMs;
    if (after === undefined) return false;
    const at = this.queue.appendedAt?.(batch.ids[0] as number);
    if (at === undefined) return false;
    const age = this.clock.now() - at;
    if (age <= after) return false;
    await this.queue.deadLetter(batch.ids, 'lagging', `waited ${Math.round(age / 1000)} s, over maxLagMs ${after} ms`);
    this.counts.deadLettered += batch.points;
    events.routeDelivery.publish({ route: this.route.name, outcome: 'lagging', points: batch.points, durationMs: 0 });
    this.log.warn(
      { route: this.route.name, device: deviceId, points: batch.points, ageMs: age },
      'route lagging over maxLagMs: points moved to the dead letters',
    );
    return true;
  }
}
