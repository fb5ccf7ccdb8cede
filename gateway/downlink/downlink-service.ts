/**
 * The downlink queue in front of its deliveries: accepts a message (durably), publishes it to the
 * subscribed devices at once, hands what is still queued to a device when it subscribes (MQTT) or asks
 * (HTTP GET /data), sweeps expired messages on the injected clock, and reports every outcome (events →
 * metrics, one log line per outcome).
 */
import type { Aedes, AedesPublishPacket, Client } from 'aedes';
import type { Clock, ClockTimer } from '../clock.js';
import type { AuthMode } from '../ingest/mqtt/topic-acl.js';
import type { Logger } from '../log.js';
import type { Device } from '../model.js';
import { downlinkEvents } from './downlink-events.js';
import type { DownlinkQueue, PulledRecord } from './downlink-queue.js';
import type { DownlinkInput, DownlinkMessage, DownlinkStatus } from './downlink-store.js';
import { MqttDelivery } from './mqtt-delivery.js';
import type { StatusReport } from './status-report.js';
import { targetsOfDevice } from './target.js';

export interface DownlinkServiceDeps {
  store: DownlinkQueue;
  broker: Aedes;
  deviceOf(client: Client): Device | undefined;
  authMode(): AuthMode;
  clock: Clock;
  log: Logger;
  sweepIntervalMs: number;
  keepFinishedMs: number;
  /** `downlink.reportStatus`: final outcomes as `downlink_status` points for TagoIO. */
  report?: StatusReport;
}

export class DownlinkService {
  readonly #deps: DownlinkServiceDeps;
  readonly #delivery: MqttDelivery;
  #sweepTimer: ClockTimer | undefined;
  #closed = false;

  constructor(deps: DownlinkServiceDeps) {
    this.#deps = deps;
    const { store, clock } = deps;
    this.#delivery = new MqttDelivery({
      broker: deps.broker,
      deviceOf: (client) => {
        const device = deps.deviceOf(client);
        if (device) deps.report?.saw(device);
        return device;
      },
      authMode: deps.authMode,
      log: deps.log,
      isQueued: (id) => !this.#closed && store.get(id)?.status === 'queued',
      onDelivered: (id) => {
        this.#delivered(id, 'mqtt').catch((err: unknown) =>
          deps.log.warn({ id, err: (err as Error).message }, 'downlink delivery not recorded; it stays queued'),
        );
      },
      queuedFor: (device) => {
        if (this.#closed) return [];
        const now = clock.now();
        const own = store.queuedFor(targetsOfDevice(device), now);
        const anyone = store.queuedUntargeted(now);
        return anyone.length === 0 ? own : [...own, ...anyone];
      },
    });
    // Queued on another node of the cluster: to the devices subscribed here, as after a local accept.
    store.onQueuedElsewhere?.((msg) => {
      if (!this.#closed) this.#delivery.publish(msg);
    });
  }

  /** Hands the retained messages back to aedes (it keeps retained ones in memory) and starts the sweep. */
  async start(): Promise<void> {
    for (const msg of this.#deps.store.retained()) await this.#delivery.restoreRetained(msg);
    this.#scheduleSweep();
  }

  /** The broker's authorizeForward for a packet on its way to a subscriber. */
  forward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    return this.#delivery.forward(client, packet);
  }

  /** Queues a message durably, then publishes it to the devices subscribed now. */
  async accept(input: DownlinkInput, pulled?: PulledRecord): Promise<DownlinkMessage> {
    const { store, log, clock } = this.#deps;
    const { message, overflowed, duplicate } = await store.enqueue(input, clock.now(), pulled);
    // A pulled record another node turned into a message already: queued (and published) there.
    if (duplicate) return message;
    downlinkEvents.queued.publish({ source: input.source, qos: input.qos });
    for (const old of overflowed) this.#ended(old);
    log.info(
      {
        event: 'downlink_queued',
        id: message.id,
        target: input.target,
        topic: input.topic,
        qos: input.qos,
        retain: input.retain,
        source: input.source,
        bytes: input.payload.length,
      },
      'downlink queued',
    );
    this.#delivery.publish(message);
    return message;
  }

  status(id: string): DownlinkMessage | undefined {
    return this.#deps.store.get(id);
  }

  list(status: DownlinkStatus, limit: number): DownlinkMessage[] {
    return this.#deps.store.list(status, limit);
  }

  /**
   * HTTP devices (GET /data on the ingest port): the messages queued for this device, oldest first,
   * marked delivered as they are handed over (HTTP has no acknowledgement after the response).
   */
  async takeForHttp(device: Device): Promise<DownlinkMessage[]> {
    const { store, clock } = this.#deps;
    if (this.#closed) return [];
    this.#deps.report?.saw(device);
    const list = store.queuedFor(targetsOfDevice(device), clock.now());
    const out: DownlinkMessage[] = [];
    for (const m of list) if (await this.#delivered(m.id, 'http')) out.push(m);
    return out;
  }

  /** Moves expired messages out of the queue now and prunes old outcomes (the sweep timer calls this). */
  async sweep(): Promise<number> {
    const { store, clock, keepFinishedMs } = this.#deps;
    const now = clock.now();
    let n = 0;
    for (;;) {
      const batch = await store.expire(now);
      for (const m of batch) this.#ended(m);
      n += batch.length;
      if (batch.length < 1_000) break;
    }
    await store.prune(now - keepFinishedMs);
    return n;
  }

  close(): void {
    this.#closed = true;
    this.#deps.clock.clearTimeout(this.#sweepTimer);
  }

  #scheduleSweep(): void {
    if (this.#closed) return;
    const t = this.#deps.clock.setTimeout(() => {
      this.sweep()
        .catch((err: unknown) => this.#deps.log.error({ err }, 'downlink expiry sweep failed'))
        .finally(() => this.#scheduleSweep());
    }, this.#deps.sweepIntervalMs);
    t.unref?.();
    this.#sweepTimer = t;
  }

  async #delivered(id: string, via: 'mqtt' | 'http'): Promise<boolean> {
    const { store, clock, log } = this.#deps;
    if (this.#closed || !(await store.markDelivered(id, clock.now(), via))) return false;
    const msg = store.get(id);
    const latencyMs = msg ? Math.max(0, clock.now() - msg.createdAt) : 0;
    downlinkEvents.delivered.publish({ via, latencyMs });
    log.info({ event: 'downlink_delivered', id, topic: msg?.topic, via, latencyMs }, 'downlink delivered');
    if (msg) this.#deps.report?.report(msg, 'delivered', via, clock.now());
    return true;
  }

  #ended(msg: DownlinkMessage): void {
    const outcome = msg.status === 'expired' ? 'expired' : 'dead_letter';
    const reason = msg.reason ?? outcome;
    downlinkEvents.ended.publish({ outcome, reason });
    this.#deps.log.warn(
      { event: `downlink_${outcome}`, id: msg.id, target: msg.target, topic: msg.topic, reason },
      outcome === 'expired' ? 'downlink expired before its device took it' : 'downlink dead-lettered',
    );
    this.#deps.report?.report(msg, outcome, reason, this.#deps.clock.now());
  }
}
