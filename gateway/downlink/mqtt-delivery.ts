/**
 * Downlink messages to MQTT devices, through aedes's own topic matching, with each delivery followed to
 * its PUBACK. aedes 1.x has no per-delivery acknowledgement API, so:
 * - A downlink is recognised by its payload Buffer: every wrapping aedes makes of a packet on its way to a
 *   subscriber (aedes-packet, QoSPacket, the retained store's shallow copy) keeps the payload by
 *   reference, so a WeakMap payload → message finds it in `authorizeForward` whichever path it took
 *   (live publish, retained copy for a new subscriber, a persistent session's offline queue).
 * - In `authorizeForward`, per client: a message named for a device goes to that device only; one that
 *   names none passes the topic ACL (a device never receives a topic it may not use). At QoS 0 (or a
 *   QoS 0 subscription) the write is the delivery. At QoS 1 the hook gives the packet its message id,
 *   taken from the client's counter exactly as aedes's QoSPacket would, and remembers (client, message
 *   id) → downlink id; aedes hands every PUBACK to `persistence.outgoingClearMessageId`, and wrapping it is
 *   where the PUBACK marks the downlink delivered.
 * - A message still queued when a device subscribes (it was offline, or disconnected before its PUBACK)
 *   is written to that client alone (`client.publish`), never re-broadcast to the topic. A message is
 *   written at most once per connection while it waits for its PUBACK (so the retained copy aedes sends a
 *   new subscriber does not double it), and not at all once it left the queue (unless it is retained).
 * Delivery is at least once: a device that disconnects before its PUBACK gets the message again.
 */
import type { Aedes, AedesPublishPacket, Client, Subscription } from 'aedes';
import { type AuthMode, subscriptionAllowed, topicAllowed, topicMatches } from '../ingest/mqtt/topic-acl.js';
import type { Logger } from '../log.js';
import type { Device } from '../model.js';
import type { DownlinkMessage } from './downlink-store.js';
import { isFor, TOPIC_TARGET } from './target.js';

/** The parts of aedes's client this module reads that its typings leave out. */
interface ClientInternals {
  _nextId: number;
  subscriptions?: Record<string, { qos?: number }>;
}
interface PersistenceWithAcks {
  outgoingClearMessageId(client: Client, packet: { messageId?: number }): Promise<unknown>;
  storeRetained(packet: unknown): Promise<unknown>;
}

interface Tracked {
  id: string;
  target: string;
  retain: boolean;
}

export interface MqttDeliveryDeps {
  broker: Aedes;
  deviceOf(client: Client): Device | undefined;
  authMode(): AuthMode;
  log: Logger;
  /** Whether the message is still waiting for a device. */
  isQueued(id: string): boolean;
  /** A device acknowledged the message (PUBACK), or it was written at QoS 0. */
  onDelivered(id: string): void;
  /** The queued messages a device may receive (its own and those that name no device), oldest first. */
  queuedFor(device: Device): DownlinkMessage[];
}

export class MqttDelivery {
  readonly #deps: MqttDeliveryDeps;
  readonly #byPayload = new WeakMap<Buffer, Tracked>();
  /** Per connection: QoS 1 message id → downlink id, until its PUBACK. */
  readonly #pending = new WeakMap<Client, Map<number, string>>();
  /** Per connection: downlinks written and not yet acknowledged, and retained ones written. */
  readonly #written = new WeakMap<Client, Set<string>>();
  /** Messages that are their topic's retained message (sent again to every new subscriber). */
  readonly #retainedIds = new Set<string>();
  readonly #retainedByTopic = new Map<string, string>();

  constructor(deps: MqttDeliveryDeps) {
    this.#deps = deps;
    const persistence = this.#persistence();
    // The hooks below lean on aedes 1.x's persistence API: refuse to start rather than never see a PUBACK.
    if (typeof persistence?.outgoingClearMessageId !== 'function' || typeof persistence.storeRetained !== 'function') {
      throw new Error(
        "aedes: the broker's persistence has no outgoingClearMessageId/storeRetained; downlink delivery cannot follow PUBACKs with this version. Use the aedes version in package-lock.json, or adapt gateway/downlink/mqtt-delivery.ts",
      );
    }
    const clear = persistence.outgoingClearMessageId.bind(persistence);
    persistence.outgoingClearMessageId = (client, packet) => {
      const pending = this.#pending.get(client);
      const messageId = packet?.messageId;
      const id = messageId === undefined ? undefined : pending?.get(messageId);
      if (id !== undefined && messageId !== undefined) {
        pending?.delete(messageId);
        const written = this.#written.get(client);
        if (written && !this.#retainedIds.has(id)) written.delete(id);
        deps.onDelivered(id);
      }
      return clear(client, packet);
    };
    deps.broker.on('subscribe', (subs: Subscription[], client: Client) => {
      this.#deliverQueued(
        client,
        subs.filter((s) => (s.qos as number) !== 128).map((s) => s.topic),
      );
    });
    // A persistent session comes back with its subscriptions and sends no SUBSCRIBE.
    deps.broker.on('clientReady', (client: Client) => {
      const subs = Object.keys((client as unknown as ClientInternals).subscriptions ?? {});
      if (subs.length > 0) this.#deliverQueued(client, subs);
    });
  }

  /** Hands a retained message (from the store, at start) back to aedes, which keeps retained ones in memory. */
  async restoreRetained(msg: DownlinkMessage): Promise<void> {
    const payload = this.#track(msg);
    this.#setRetained(msg);
    await this.#persistence().storeRetained({
      cmd: 'publish',
      topic: msg.topic,
      payload,
      qos: msg.qos,
      retain: true,
      dup: false,
      brokerId: this.#deps.broker.id,
      brokerCounter: 0,
    });
  }

  /**
   * The broker's `authorizeForward` hook: for a downlink, the packet to write to this client, or null
   * when this client must not (or need not again) receive it. Any other packet passes unchanged.
   */
  forward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    const t = this.#byPayload.get(packet.payload as Buffer);
    if (t === undefined) return packet;
    const device = this.#deps.deviceOf(client);
    if (!device) return null;
    if (t.target.startsWith(TOPIC_TARGET)) {
      if (!topicAllowed(device, packet.topic, this.#deps.authMode())) return null;
    } else if (!isFor(t.target, device)) {
      return null;
    }
    let written = this.#written.get(client);
    if (written?.has(t.id)) return null;
    if (!this.#retainedIds.has(t.id) && !this.#deps.isQueued(t.id)) return null;
    if (packet.qos === 0 || this.#grantedQos(client, packet.topic) === 0) {
      if (this.#retainedIds.has(t.id)) this.#remember(client, written, t.id);
      this.#deps.onDelivered(t.id);
      return packet;
    }
    written = this.#remember(client, written, t.id);
    // A persistent session's offline queue hands over a QoSPacket that has its message id already, and
    // writes that packet whatever this hook returns. Otherwise: the id aedes's QoSPacket would take (it
    // keeps one the forwarded packet brings).
    const internals = client as unknown as ClientInternals;
    let messageId = packet.messageId;
    if (messageId === undefined && typeof internals._nextId !== 'number') {
      // Another aedes: no client counter to take the id from. Written untracked (stays queued, resent on
      // the next subscribe) rather than with an id that would clash.
      this.#warnOnce('aedes client has no _nextId: downlink PUBACKs cannot be followed');
      return packet;
    }
    if (messageId === undefined) {
      messageId = internals._nextId;
      internals._nextId = messageId >= 65_535 ? 1 : messageId + 1;
    }
    let pending = this.#pending.get(client);
    if (!pending) {
      pending = new Map();
      this.#pending.set(client, pending);
    }
    pending.set(messageId, t.id);
    return { ...packet, messageId } as AedesPublishPacket;
  }

  /** Publishes a message to every subscribed, allowed client now (none: it stays queued). */
  publish(msg: DownlinkMessage): void {
    const payload = this.#track(msg);
    if (msg.retain) this.#setRetained(msg);
    this.#deps.broker.publish(
      { cmd: 'publish', topic: msg.topic, payload, qos: msg.qos, retain: msg.retain, dup: false },
      (err) => {
        if (err) this.#deps.log.warn({ id: msg.id, topic: msg.topic, err: err.message }, 'downlink publish failed');
      },
    );
  }

  #warned = false;
  #warnOnce(message: string): void {
    if (this.#warned) return;
    this.#warned = true;
    this.#deps.log.error({}, message);
  }

  /** A retained message replaces its topic's previous one; an empty one clears it (MQTT 3.3.1.3). */
  #setRetained(msg: DownlinkMessage): void {
    const previous = this.#retainedByTopic.get(msg.topic);
    if (previous !== undefined) this.#retainedIds.delete(previous);
    if (msg.payload.length === 0) {
      this.#retainedByTopic.delete(msg.topic);
      return;
    }
    this.#retainedByTopic.set(msg.topic, msg.id);
    this.#retainedIds.add(msg.id);
  }

  #remember(client: Client, written: Set<string> | undefined, id: string): Set<string> {
    let set = written;
    if (!set) {
      set = new Set();
      this.#written.set(client, set);
    }
    set.add(id);
    return set;
  }

  #track(msg: DownlinkMessage): Buffer {
    // A copy of its own, so no other packet ever shares this Buffer by accident.
    const payload = Buffer.from(msg.payload);
    this.#byPayload.set(payload, { id: msg.id, target: msg.target, retain: msg.retain });
    return payload;
  }

  #persistence(): PersistenceWithAcks {
    return (this.#deps.broker as unknown as { persistence: PersistenceWithAcks }).persistence;
  }

  /** The QoS the client's subscriptions grant this topic (aedes picks deliver0 for a QoS 0 subscription). */
  #grantedQos(client: Client, topic: string): number {
    const subs = (client as unknown as ClientInternals).subscriptions ?? {};
    let best = -1;
    for (const [filter, s] of Object.entries(subs)) {
      if (topicMatches(filter, topic)) best = Math.max(best, s.qos ?? 0);
    }
    return best === -1 ? 1 : best;
  }

  /** Writes what is queued for this client's device and matches its new filters, to this client alone. */
  #deliverQueued(client: Client, filters: string[]): void {
    const device = this.#deps.deviceOf(client);
    if (!device) return;
    const mode = this.#deps.authMode();
    const allowed = filters.filter((f) => subscriptionAllowed(device, f, mode));
    if (allowed.length === 0) return;
    for (const msg of this.#deps.queuedFor(device)) {
      if (!allowed.some((f) => topicMatches(f, msg.topic))) continue;
      const payload = this.#track(msg);
      client.publish(
        { cmd: 'publish', topic: msg.topic, payload, qos: msg.qos, retain: msg.retain, dup: false },
        (err) => {
          if (err) this.#deps.log.debug({ id: msg.id, err: (err as Error).message }, 'queued downlink not written');
        },
      );
    }
  }
}
