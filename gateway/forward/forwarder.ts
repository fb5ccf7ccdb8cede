/**
 * Forwards stored points to TagoIO: `POST {upstream.url}/data` with `Device-Token`, one device per
 * request, a JSON array of at most `batchMaxBytes`, in per-device order (one request in flight per
 * device), at most `maxInFlight` requests at once, paced by `Pacer`.
 *
 * Invariant: a point leaves the store only when TagoIO answered 2xx (ack), or when TagoIO refused it
 * for good (400 → dead letter with TagoIO's message; 401/403 → dead letter, and the token is refused at
 * ingest from then on). Everything else — 429, 5xx, timeouts, network errors — keeps the points and
 * retries with exponential backoff and jitter, honouring Retry-After. A 429 pauses every device: the
 * limit is per TagoIO profile, not per device.
 */
import { Agent, request } from 'undici';
import type { DeviceDirectory } from '../auth/device-directory.js';
import { deviceIdOf } from '../auth/device-directory.js';
import { type Clock, type ClockTimer, systemClock } from '../clock.js';
import type { Config } from '../config/schema.js';
import { events } from '../events.js';
import type { Logger } from '../log.js';
import type { PointQueue, TokenDenyList } from '../store/store.js';
import { Pacer } from './pacer.js';
import { backoffMs, classify, retryAfterSeconds, upstreamMessage } from './retry-policy.js';

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
  /** When each device's last request went out (for the per-device batching interval). */
  private readonly lastSent = new Map<string, number>();
  private readonly pacer: Pacer;
  private readonly agent: Agent;
  private readonly url: string;
  private wakeTimer: ClockTimer | null = null;
  private wakeAt = 0;
  private consecutiveFailures = 0;
  /**
   * For a minute after a 429, one request at a time: TagoIO's window allows fewer requests than
   * configured, and a burst of `maxInFlight` would meet as many refusals each window.
   */
  private serialUntil = 0;
  private lastSuccessAt = 0;
  private lastError = '';

  constructor(
    private readonly config: Config['upstream'],
    private readonly store: PointQueue & TokenDenyList,
    private readonly directory: DeviceDirectory,
    private readonly log: Logger,
    /** Time for pacing, back-off and batching waits (tests drive it by hand); `random` is the back-off's jitter. */
    private readonly clock: Clock = systemClock,
    private readonly random: () => number = Math.random,
  ) {
    this.pacer = new Pacer(config.requestsPerMinute, 60_000, () => clock.now());
    this.agent = new Agent({ connections: config.maxInFlight, keepAliveTimeout: 10_000, pipelining: 1 });
    this.url = `${config.url.replace(/\/+$/, '')}/data`;
    // New points wait batchWaitMs to fill a batch, unless the queue holds a full batch already (a backlog:
    // it goes at once, request after request).
    store.onAppend(() =>
      this.schedule(store.stats().depthBytes >= this.config.batchMaxBytes ? 0 : this.config.batchWaitMs),
    );
  }

  start(): void {
    this.running = true;
    this.schedule(0);
  }

  /** Stops taking new batches; waits up to `graceMs` for requests in flight. */
  async stop(graceMs: number): Promise<void> {
    this.running = false;
    if (this.wakeTimer) this.clock.clearTimeout(this.wakeTimer);
    this.wakeTimer = null;
    const all = Promise.allSettled([...this.inFlight.values()]);
    await Promise.race([all, new Promise((r) => this.clock.setTimeout(() => r(undefined), graceMs).unref?.())]);
    await this.agent.close().catch(() => undefined);
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
    let nextWake = Number.POSITIVE_INFINITY;
    const exclude = new Set<string>(this.inFlight.keys());
    // A device sends at most one request per batchWaitMs, so under steady load its points ride together
    // instead of one request each (TagoIO counts requests against the profile's per-minute limit, and each
    // costs both sides CPU). A backlog waits for nothing: a request that left points behind is followed at
    // once (send() does not start the interval), and so is a device whose pending points fill a request.
    for (const [token, at] of this.lastSent) {
      const wait = at + this.config.batchWaitMs - now;
      if (wait <= 0) this.lastSent.delete(token);
      else if (this.store.pendingBytes(token) < this.config.batchMaxBytes) {
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
    // While TagoIO is down, one request at a time probes it; after a 429, one at a time for a minute.
    const down = this.consecutiveFailures >= OUTAGE_AFTER;
    const limit = down || now < this.serialUntil ? 1 : this.config.maxInFlight;
    while (this.inFlight.size < limit) {
      const tokens = this.store.pendingTokens(limit - this.inFlight.size, exclude);
      if (tokens.length === 0) break;
      let paced = false;
      for (const token of tokens) {
        const wait = this.pacer.take();
        if (wait > 0) {
          nextWake = Math.min(nextWake, wait);
          paced = true;
          break;
        }
        exclude.add(token);
        const p = this.send(token)
          .catch((err: unknown) => {
            // A store error mid-send (e.g. closed under a shutdown): the points stay and go again later.
            this.log.error({ err, device: deviceIdOf(token) }, 'forwarding a batch failed');
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
   * TagoIO answered again after an outage: the devices that were waiting only because of the outage go
   * now, so the backlog drains as fast as the pacer allows instead of when each backoff runs out.
   */
  private recovered(): void {
    let released = 0;
    for (const [token, b] of this.backoff) {
      if (b.outage) {
        this.backoff.delete(token);
        released++;
      }
    }
    this.log.info({ released }, 'TagoIO reachable again; draining the backlog');
  }

  private async send(token: string): Promise<void> {
    const batch = this.store.peek(token, this.config.batchMaxBytes);
    if (!batch) return;
    // The interval starts when a delivered request took everything the device had pending; what arrives
    // next waits to fill a batch. A request that leaves points behind (a backlog) starts none, nor does a
    // failed one. (The body is the rows' bytes + 1: the brackets, one comma fewer than rows.)
    const tookAll = this.store.pendingBytes(token) < batch.bytes;
    const deviceId = deviceIdOf(token);
    const started = this.clock.monotonic();
    let status = 0;
    let text = '';
    let retryAfterHeader: string | string[] | undefined;
    try {
      const res = await request(this.url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: { 'device-token': token, 'content-type': 'application/json', 'user-agent': 'tago-edge' },
        body: batch.body,
        headersTimeout: this.config.timeoutMs,
        bodyTimeout: this.config.timeoutMs,
      });
      status = res.statusCode;
      retryAfterHeader = res.headers['retry-after'];
      text = await res.body.text();
    } catch (err) {
      text = (err as Error).message;
    }
    const durationMs = this.clock.monotonic() - started;
    events.forwardResponse.publish({ deviceId, status, points: batch.points, durationMs });
    const outcome = classify(status);
    switch (outcome) {
      case 'delivered':
        try {
          // Removed in the store's next group commit, with the queued appends and the other responses'
          // acks (one transaction instead of one per response). The request's inFlight entry is held until
          // then, so the device's next `peek` never sees these points again.
          await this.store.acknowledge(batch.ids);
        } catch (err) {
          // The points stay in the store and go again (at least once); e.g. the store closed at shutdown.
          this.log.warn(
            { device: deviceId, points: batch.points, err: (err as Error).message },
            'delivered points could not be removed from the store; they will be sent again',
          );
        }
        this.backoff.delete(token);
        if (tookAll && this.config.batchWaitMs > 0) this.lastSent.set(token, this.clock.now());
        if (this.consecutiveFailures >= OUTAGE_AFTER) this.recovered();
        this.consecutiveFailures = 0;
        this.lastSuccessAt = this.clock.now();
        return;
      case 'rate_limited': {
        const ra = retryAfterSeconds(retryAfterHeader, text, this.clock.now()) ?? 60;
        const until = this.clock.now() + ra * 1000;
        this.pacer.pause(until);
        this.serialUntil = until + 60_000;
        this.lastError = `429 ${upstreamMessage(text)}`;
        this.log.warn({ device: deviceId, retryAfterSeconds: ra }, 'TagoIO rate limit reached; pausing forwarding');
        return;
      }
      case 'dead_letter':
      case 'refused_token': {
        const message = upstreamMessage(text);
        const reason = `upstream_${status}`;
        // The store publishes the dead-letter event (one place, so the metric counts each point once).
        await this.store.deadLetter(batch.ids, reason, message);
        this.consecutiveFailures = 0;
        if (outcome === 'refused_token') {
          await this.store.refuseToken(token);
          this.directory.refuse(token);
          this.log.warn(
            { device: deviceId, status, message },
            'TagoIO refused the device token; refusing it at ingest from now on',
          );
        } else {
          this.log.warn(
            { device: deviceId, status, message, points: batch.points },
            'TagoIO rejected a batch; kept as a dead letter',
          );
        }
        return;
      }
      case 'retry': {
        const prev = this.backoff.get(token);
        const attempt = (prev?.attempt ?? 0) + 1;
        const ra = retryAfterSeconds(retryAfterHeader, text, this.clock.now());
        const wait = Math.max(
          (ra ?? 0) * 1000,
          backoffMs(attempt, this.config.retryBaseMs, this.config.retryMaxMs, this.random),
        );
        this.consecutiveFailures += 1;
        this.backoff.set(token, {
          until: this.clock.now() + wait,
          attempt,
          outage: this.consecutiveFailures >= OUTAGE_AFTER,
        });
        this.lastError = status === 0 ? text : `${status} ${upstreamMessage(text)}`;
        this.log.warn(
          { device: deviceId, status, attempt, retryInMs: wait, error: this.lastError },
          'forward failed; will retry',
        );
        return;
      }
    }
  }
}
