/**
 * MQTT ingest on aedes 1.x (MQTT 3.1.1), TagoIO's legacy broker contract:
 * CONNECT with password = device token (username ignored), `tago/data/post` for TagoIO JSON, any other
 * topic wrapped as the `payload` record with `metadata.topic`.
 *
 * [DESIGN: acknowledge only what is durable] In aedes 1.x the QoS 1 PUBACK is written right after
 * `authorizePublish` calls back and before the `published` hook, so the whole ingest — parse, validate,
 * store append and its commit — completes inside `authorizePublish`. Calling back with an error there
 * closes the connection without a PUBACK (MQTT 3.1.1 has no negative PUBACK), which is how a publish the
 * store could not take is refused: the device keeps it and sends it again.
 */
import { PassThrough } from 'node:stream';
import {
  Aedes,
  type AedesPublishPacket,
  type AuthenticateError,
  type Client,
  type PublishPacket,
  type Subscription,
} from 'aedes';
import { assertJsonDepth } from '../../admission/json-depth.js';
import type { DeviceDirectory } from '../../auth/device-directory.js';
import type { Config } from '../../config/schema.js';
import {
  type EdgeError,
  InvalidBodyError,
  PayloadTooLargeError,
  ShuttingDownError,
  TopicNotAllowedError,
  toEdgeError,
} from '../../errors.js';
import { events } from '../../events.js';
import type { Logger } from '../../log.js';
import type { Device } from '../../model.js';
import type { DeadLetters, PointQueue } from '../../store/store.js';
import { DATA_TOPIC, type IngestInput, type IngestPipeline, payloadValue } from '../pipeline.js';
import { ReadGate, verifyReadGateInternals } from './read-gate.js';
import { type AuthMode, subscriptionAllowed, topicAllowed } from './topic-acl.js';

export interface MqttIngestDeps {
  config: Config['mqtt'];
  directory: DeviceDirectory;
  pipeline: IngestPipeline;
  store: PointQueue & DeadLetters;
  log: Logger;
  isShuttingDown(): boolean;
  /** Extra admission checks at CONNECT (address lists, auth-failure cool-down); throws an EdgeError to refuse. */
  admitConnect?(client: Client): void;
  /** Reports an authentication failure (for per-address cool-down). */
  onAuthFailure?(client: Client): void;
  /** Extra admission per publish (rate limits); throws an EdgeError to refuse. */
  admitPublish?(client: Client, device: Device): void;
  /** auth.mode, for the topic ACL (passthrough devices without configured topics may use any topic). */
  authMode?(): AuthMode;
  /** mTLS: the device a client certificate stands for, if any. */
  deviceFromCertificate?(client: Client): Device | undefined;
  /** Downlink (gateway/downlink): the packet to write to a subscriber, or null to write none. */
  forward?(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null;
}

export interface MqttIngest {
  broker: Aedes;
  /** The bound on publishes inside the gateway (mqtt.maxPublishesInFlight). */
  gate: ReadGate;
  deviceOf(client: Client): Device | undefined;
  close(): Promise<void>;
}

export async function createMqttIngest(deps: MqttIngestDeps): Promise<MqttIngest> {
  const { directory, pipeline, store, log, config } = deps;
  const devices = new WeakMap<Client, Device>();
  const gate = new ReadGate(config.maxPublishesInFlight);
  /** Clients in an auth cool-down: let through preConnect so that authenticate answers a CONNACK refusal. */
  const coolingDown = new WeakMap<Client, EdgeError>();
  const spaceWaiters = new Set<() => void>();
  store.onSpace(() => {
    for (const w of [...spaceWaiters]) w();
  });

  function waitForSpace(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        spaceWaiters.delete(onSpace);
        resolve(ok);
      };
      const onSpace = () => done(true);
      const timer = setTimeout(() => done(false), ms);
      spaceWaiters.add(onSpace);
    });
  }

  function refuse(code: 4 | 5, message: string): AuthenticateError {
    const err = new Error(message) as AuthenticateError;
    err.returnCode = code;
    return err;
  }

  const broker = await Aedes.createBroker({
    connectTimeout: config.connectTimeoutMs,
    heartbeatInterval: 60_000,
    maxClientsIdLength: 256,
    maxTopicLevels: config.maxTopicLevels,
    preConnect(client, _packet, cb) {
      try {
        try {
          deps.admitConnect?.(client);
        } catch (err) {
          // A refusal whose outcome is a CONNACK code (auth cool-down) is answered by authenticate below;
          // any other (address lists) closes the connection here.
          const edge = toEdgeError(err);
          if (edge.mqtt !== 'connack-4' && edge.mqtt !== 'connack-5') throw err;
          coolingDown.set(client, edge);
        }
        if (deps.isShuttingDown()) return cb(new Error('shutting down'), false);
        // aedes counts clients already connected; this one is not among them yet.
        if (broker.connectedClients >= config.maxConnections) {
          log.warn({ max: config.maxConnections }, 'MQTT connection cap reached; refusing');
          return cb(new Error('connection cap reached'), false);
        }
        cb(null, true);
      } catch (err) {
        cb(err as Error, false);
      }
    },
    authenticate(client, _username, password, cb) {
      const cooling = coolingDown.get(client);
      if (cooling) {
        events.mqttClient.publish({ kind: 'refused', reason: cooling.code });
        return cb(refuse(cooling.mqtt === 'connack-4' ? 4 : 5, cooling.message), false);
      }
      try {
        const fromCert = deps.deviceFromCertificate?.(client);
        const device = fromCert ?? directory.resolve(password ? password.toString('utf8') : undefined);
        devices.set(client, device);
        cb(null, true);
      } catch (raw) {
        const err = toEdgeError(raw);
        deps.onAuthFailure?.(client);
        events.mqttClient.publish({ kind: 'refused', reason: err.code });
        log.info({ clientId: client.id, code: err.code }, 'MQTT CONNECT refused');
        // The catalogue says which: 4 bad user name or password (missing token), 5 not authorized.
        cb(refuse(err.mqtt === 'connack-4' ? 4 : 5, err.message), false);
      }
    },
    authorizePublish(client, packet, cb) {
      if (!client) return cb(null); // a stored will published without its client
      const device = devices.get(client);
      if (!device) return cb(new Error('not authenticated'));
      // Backstop for mqtt.maxPacketBytes (the stream guard in admission/mqtt-packet-guard.ts cuts first).
      if (packet.payload.length > config.maxPacketBytes) {
        log.warn({ device: device.id, bytes: packet.payload.length }, 'MQTT packet over mqtt.maxPacketBytes');
        return cb(new PayloadTooLargeError(`publish of ${packet.payload.length} bytes is over mqtt.maxPacketBytes`));
      }
      gate.enter();
      // The publish leaves the gate however aedes's callback ends, or the bound would shrink for good.
      ingestPublish(client, device, packet, (err) => {
        try {
          cb(err);
        } finally {
          gate.leave();
        }
      });
    },
    authorizeSubscribe(client, sub: Subscription, cb) {
      const device = devices.get(client);
      if (!device || !subscriptionAllowed(device, sub.topic, deps.authMode?.())) {
        log.info({ device: device?.id, topic: sub.topic }, 'MQTT subscription refused');
        return cb(null, null); // SUBACK 0x80 for this filter; the connection stays
      }
      cb(null, sub);
    },
    ...(deps.forward ? { authorizeForward: deps.forward } : {}),
  });
  // The read gate wraps aedes internals: check them now, on a client made for the purpose, not per connection.
  const probe = broker.handle(new PassThrough() as unknown as Parameters<typeof broker.handle>[0]);
  try {
    verifyReadGateInternals(probe);
  } finally {
    probe.close();
  }

  /**
   * One publish through the ingest stages (pipeline.ts); `done(null)` sends the PUBACK (QoS 1), `done(err)`
   * closes the connection without one. The error's MQTT outcome (gateway/errors.ts) says which.
   */
  function ingestPublish(client: Client, device: Device, packet: PublishPacket, done: (err: Error | null) => void) {
    const arrivedAtMs = Date.now();
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const deadline = arrivedAtMs + config.fullWaitMs;
    pipeline.run({
      protocol: 'mqtt',
      arrivedAtMs,
      admit() {
        if (deps.isShuttingDown()) throw new ShuttingDownError('gateway is shutting down; publish again later');
      },
      // Authenticated at CONNECT: the session's device, on a topic it may publish to.
      authenticate() {
        if (!topicAllowed(device, packet.topic, deps.authMode?.())) {
          log.warn({ device: device.id, topic: packet.topic }, 'MQTT publish on a topic not allowed; disconnecting');
          throw new TopicNotAllowedError(`topic "${packet.topic}" is not allowed for this device`);
        }
        return device;
      },
      limit: () => deps.admitPublish?.(client, device),
      decode: (_device, done) => done(null, toInput(packet.topic, payload)),
      ack: () => done(null),
      refuse(err): Promise<boolean> | undefined {
        if (err.mqtt === 'dead-letter') {
          // Never silently dropped: counted (pipeline event), logged, kept as a dead letter; then PUBACK.
          return store
            .addDeadLetter({
              token: device.token,
              deviceId: device.id,
              reason: err.code,
              message: err.message,
              topic: packet.topic,
              records: [{ variable: 'payload', value: payloadValue(payload), metadata: { topic: packet.topic } }],
            })
            .then(
              () => {
                log.warn(
                  { device: device.id, topic: packet.topic, code: err.code, reason: err.message },
                  'MQTT publish rejected; kept as a dead letter',
                );
                done(null);
                return false;
              },
              (e: unknown) => {
                done(toEdgeError(e));
                return false;
              },
            );
        }
        if (err.mqtt === 'refuse-publish' && packet.qos === 0) {
          // Over limits.uploadsPerMinute (counted): not stored. QoS 0 has no PUBACK to withhold, so the
          // connection stays; admission closes a persistent offender. Over the limit at QoS 1 falls through
          // to the end: the connection closes without PUBACK, and the device keeps the message and resends
          // it after reconnecting (MQTT 3.1.1 has no negative PUBACK).
          done(null);
          return;
        }
        if (err.mqtt === 'withhold-puback') {
          if (packet.qos === 0) {
            // QoS 0 has no acknowledgement to withhold: refused and counted.
            log.debug({ device: device.id }, 'QoS 0 publish refused: store full');
            done(null);
            return;
          }
          const giveUp = () => {
            log.warn(
              { device: device.id, clientId: client.id, waitedMs: config.fullWaitMs },
              'store full: PUBACK withheld too long; disconnecting the client (it will resend)',
            );
            done(err);
            return false;
          };
          const left = deadline - Date.now();
          // Space freed in time: the store stage runs again.
          if (left > 0) return waitForSpace(left).then((ok) => ok || giveUp());
          giveUp();
          return;
        }
        if (err.code === 'EDGE_ERR_INTERNAL') {
          log.error({ err, device: device.id }, 'MQTT publish failed; disconnecting without PUBACK');
        }
        done(err);
        return;
      },
    });
  }

  broker.on('client', (client) => {
    gate.attach(client);
    events.mqttClient.publish({ kind: 'connect', deviceId: devices.get(client)?.id ?? '' });
  });
  broker.on('clientDisconnect', (client) => {
    events.mqttClient.publish({ kind: 'disconnect', deviceId: devices.get(client)?.id ?? '' });
  });
  broker.on('clientError', (client, err) => {
    log.debug({ clientId: client.id, err: err.message }, 'MQTT client error');
  });
  broker.on('connectionError', (_client, err) => {
    log.debug({ err: err.message }, 'MQTT connection error');
  });

  return {
    broker,
    gate,
    deviceOf: (c) => devices.get(c),
    close: () => new Promise<void>((resolve) => broker.close(() => resolve())),
  };
}

function toInput(topic: string, payload: Buffer): IngestInput {
  if (topic !== DATA_TOPIC) {
    // JSON on another topic is taken as data when the device has no parser: the same depth limit.
    if (payload[0] === 0x7b || payload[0] === 0x5b) assertJsonDepth(payload, `payload on ${topic}`);
    return { kind: 'raw', payload, topic };
  }
  assertJsonDepth(payload, `${DATA_TOPIC} payload`);
  try {
    return { kind: 'json', body: JSON.parse(payload.toString('utf8')), raw: payload };
  } catch (err) {
    throw new InvalidBodyError(`${DATA_TOPIC} payload is not valid JSON: ${(err as Error).message}`);
  }
}
