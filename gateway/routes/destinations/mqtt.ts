/**
 * The MQTT destination: another cloud's broker (AWS IoT Core, Azure IoT Hub, any MQTT 3.1.1 broker) as a
 * route. One client per route, MQTT 3.1.1 with a clean session, opened on the first delivery and kept.
 * A batch is one message (the batch's JSON array) on the expanded topic, or with `{variable}` in the
 * template one message per point (the record's JSON) on each point's topic; every message is QoS 1.
 *
 * Invariants:
 * - `delivered` only once the broker has PUBACKed every message of the batch: a PUBACK means the broker
 *   took ownership of the message [MQTT-4.3.2-4]; anything short of that is `retry`.
 * - A message answered `retry` is never sent again by MQTT.js on its own (the forwarder resends it, with the
 *   rest of its batch): the client never reconnects (reconnectPeriod 0), and a lost, stalled or refused
 *   connection is ended and its in-memory store dropped with it; the next delivery opens a new client.
 *   Messages are published only while connected, so nothing waits in MQTT.js's offline queue either.
 *   Duplicates on the wire can happen (a PUBACK lost with the connection); losses cannot.
 * - A topic value (device name or id, variable) is one topic level: `/`, `+`, `#`, `$`, `%` and NUL are
 *   percent-encoded, so a device can never add levels, wildcards or a `$SYS`-like prefix.
 * - `deliver` never rejects; a broker outage is an outcome and a log line, never an unhandled error.
 *   After a failed connect, deliveries answer `retry` without connecting again for a hold that doubles
 *   from 1 s to 30 s while the broker stays unreachable: many devices retrying cost one connect attempt
 *   (and one log line) per hold, not one each.
 */
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { type Clock, type ClockTimer, systemClock } from '../../clock.js';
import type { DestinationConfig } from '../../config/routes-schema.js';
import type { Logger } from '../../log.js';
import { type Delivery, type DeliveryOutcome, type Destination, errorText } from '../destination.js';

type MqttConfig = Extract<DestinationConfig, { type: 'mqtt' }>;

/**
 * One client's connection. `onLost` calls back once, with why, when the connection is gone (at once if it
 * already is) and returns how to stop listening: listeners per delivery, removed when it answers, so a
 * connection kept for months holds none of the deliveries it served.
 */
interface Link {
  client: MqttClient;
  onLost(fn: (why: string) => void): () => void;
  end(why: string): void;
}

const HOLD_FIRST_MS = 1_000;
const HOLD_MAX_MS = 30_000;

/** One topic level: the characters MQTT gives a meaning to, percent-encoded (`%` too, so it is reversible). */
export function topicLevel(value: string): string {
  return value.replace(/[%/+#$\0]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** Why a connection failed, for an operator: CONNACK refusals and TLS errors say which they are. */
function describe(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'number') {
    // MQTT.js: "Connection refused: Not authorized" for a CONNACK with return code 5.
    const reason = errorText(err)
      .replace(/^Connection refused: /, '')
      .toLowerCase();
    return `broker refused the connection: CONNACK ${code} (${reason}); check username, password and client certificate`;
  }
  if (typeof code === 'string' && /SSL|TLS|CERT/.test(code)) {
    // OpenSSL's errors carry the short reason ("tlsv13 alert certificate required") beside a long message.
    const reason = (err as { reason?: unknown }).reason;
    return `TLS: ${typeof reason === 'string' ? reason : errorText(err)} (${code})`;
  }
  return errorText(err);
}

function readPem(route: string, key: 'caFile' | 'certFile' | 'keyFile', path: string | undefined): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(
      `routes[${route}].destination.${key}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? errorText(err)}`,
    );
  }
}

export class MqttDestination implements Destination {
  readonly type = 'mqtt';
  private readonly options: IClientOptions;
  private readonly log: Logger;
  private readonly clock: Clock;
  /** The broker URL without credentials, for logs. */
  private readonly where: string;
  /** Every client not yet closed (the kept one and one connecting): close() ends them all. */
  private readonly clients = new Set<MqttClient>();
  private link: Link | null = null;
  private opening: Promise<Link> | null = null;
  private closed = false;
  /** Connects that failed in a row, and until when (monotonic ms) no new one is tried. */
  private failures = 0;
  private heldUntil = 0;
  private lastConnectError = '';

  constructor(
    private readonly config: MqttConfig,
    opts: { route: string; log: Logger; clock?: Clock },
  ) {
    this.log = opts.log.child({ route: opts.route, destination: 'mqtt' });
    this.clock = opts.clock ?? systemClock;
    const url = new URL(config.url);
    url.username = '';
    url.password = '';
    this.where = url.toString();
    const ca = readPem(opts.route, 'caFile', config.caFile);
    const cert = readPem(opts.route, 'certFile', config.certFile);
    const key = readPem(opts.route, 'keyFile', config.keyFile);
    // Wildcards are for subscribers; a broker disconnects a client that publishes on one.
    if (/[+#]/.test(config.topic.replace(/\{(device|deviceId|variable)\}/g, ''))) {
      throw new Error(`routes[${opts.route}].destination.topic: "${config.topic}" contains + or # (MQTT wildcards)`);
    }
    this.options = {
      // AWS IoT Core and Azure IoT Hub speak 3.1.1; a clean session keeps no state on either side that
      // could deliver a message we answered `retry` for.
      protocolVersion: 4,
      clean: true,
      clientId: config.clientId ?? `tago-edge-${opts.route}`,
      reconnectPeriod: 0,
      connectTimeout: config.timeoutMs,
      queueQoSZero: false,
      ...(config.username === undefined ? {} : { username: config.username }),
      ...(config.password === undefined ? {} : { password: config.password }),
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
    };
  }

  async deliver(delivery: Delivery): Promise<DeliveryOutcome> {
    if (this.closed) return { kind: 'retry', error: 'destination closed' };
    let link: Link;
    try {
      // Within the hold after a failed connect, the last failure answers without a new attempt.
      if (!this.link && !this.opening && this.heldUntil > this.clock.monotonic())
        throw new Error(this.lastConnectError);
      link = await this.connection();
    } catch (err) {
      const retryAfterMs = Math.max(0, this.heldUntil - this.clock.monotonic());
      return { kind: 'retry', error: errorText(err), retryAfterMs };
    }
    const messages = this.messages(delivery);
    const acks: Promise<void>[] = [];
    for (const { topic, payload } of messages) {
      // Only while connected: a publish on a closed client would wait in MQTT.js's offline queue.
      if (!link.client.connected) break;
      acks.push(link.client.publishAsync(topic, payload, { qos: 1 }).then(() => undefined));
    }
    let timer: ClockTimer | undefined;
    const timeout = new Promise<string>((resolve) => {
      timer = this.clock.setTimeout(
        () => resolve(`no PUBACK within ${this.config.timeoutMs} ms`),
        this.config.timeoutMs,
      );
    });
    // Rejections of the publishes are read here (Promise.all) or swallowed: the race's loser must not
    // become an unhandled rejection.
    const all = Promise.all(acks).then(
      () => (acks.length === messages.length ? null : 'connection lost while publishing'),
      (err: unknown) => `connection lost before PUBACK: ${errorText(err)}`,
    );
    let stopListening = () => {};
    const lost = new Promise<string>((resolve) => {
      stopListening = link.onLost((why) => resolve(`connection lost: ${why}`));
    });
    const failure = await Promise.race([all, lost, timeout]);
    this.clock.clearTimeout(timer);
    stopListening();
    if (failure === null) return { kind: 'delivered' };
    // A connection that lost a PUBACK is not trusted again; ending it drops MQTT.js's store of our
    // unacknowledged publishes, which it would otherwise keep.
    link.end(failure);
    return { kind: 'retry', error: failure };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.link = null;
    // Forced: pending publishes fail at once (their deliveries answer retry) and a connect in progress stops.
    await Promise.all([...this.clients].map((c) => c.endAsync(true)));
  }

  private messages({ device, batch }: Delivery): Array<{ topic: string; payload: string }> {
    const base = this.config.topic
      .replaceAll('{device}', topicLevel(device.name))
      .replaceAll('{deviceId}', topicLevel(device.id));
    if (!base.includes('{variable}')) return [{ topic: base, payload: batch.body }];
    return batch.records.map((record) => ({
      topic: base.replaceAll('{variable}', topicLevel(record.variable)),
      payload: JSON.stringify(record),
    }));
  }

  /** The open connection, or a new one (one connect at a time, shared by concurrent deliveries). */
  private connection(): Promise<Link> {
    if (this.link?.client.connected) return Promise.resolve(this.link);
    this.opening ??= this.open()
      .then(
        (link) => {
          this.failures = 0;
          return link;
        },
        (err: unknown) => {
          this.failures++;
          this.heldUntil = this.clock.monotonic() + Math.min(HOLD_FIRST_MS * 2 ** (this.failures - 1), HOLD_MAX_MS);
          this.lastConnectError = errorText(err);
          throw err;
        },
      )
      .finally(() => {
        this.opening = null;
      });
    return this.opening;
  }

  private open(): Promise<Link> {
    const client = mqtt.connect(this.config.url, this.options);
    this.clients.add(client);
    return new Promise<Link>((resolve, reject) => {
      let lastError = '';
      let connected = false;
      let lostWhy: string | null = null;
      const listeners = new Set<(why: string) => void>();
      const link: Link = {
        client,
        onLost(fn) {
          if (lostWhy !== null) fn(lostWhy);
          else listeners.add(fn);
          return () => listeners.delete(fn);
        },
        end: (why) => {
          lastError ||= why;
          if (this.link === link) this.link = null;
          client.end(true);
        },
      };
      // An 'error' without a listener would be thrown by the emitter: the first error is the cause.
      client.on('error', (err) => {
        lastError ||= describe(err);
      });
      client.once('connect', () => {
        connected = true;
        this.link = link;
        this.log.info({ url: this.where }, 'mqtt destination connected');
        resolve(link);
      });
      client.once('close', () => {
        const why = lastError || 'connection closed by the broker';
        lostWhy = why;
        for (const fn of listeners) fn(why);
        listeners.clear();
        reject(new Error(why)); // no-op once connected
        this.clients.delete(client);
        if (this.link === link) this.link = null;
        if (!this.closed) {
          this.log.warn(
            { url: this.where, error: why },
            connected ? 'mqtt destination disconnected' : 'mqtt destination cannot connect',
          );
        }
        // Never reconnects (reconnectPeriod 0); ending it answers every pending publish with an error.
        client.end(true);
      });
    });
  }
}
