/**
 * The downlink, TagoIO → device (docs/downlink.md):
 *   TagoIO Action/Analysis ──POST /publish──▶ push-server ──┐
 *   TagoIO bucket variable ◀──GET/DELETE /data── pull-poller ┴─▶ DownlinkQueue (durable) ─▶ MQTT delivery
 *                                                                          └──▶ GET /data (HTTP devices)
 * The queue is downlink-store.ts (SQLite, this node's) or, with `store.engine: jetstream`,
 * jetstream-downlink-store.ts (the cluster's bucket, every node's). Started when `downlink.port` is set or a
 * device has `downlink.pull`.
 */
import type { Server } from 'node:http';
import type { KV } from '@nats-io/kv';
import type { Aedes, AedesPublishPacket, Client } from 'aedes';
import { deviceIdOf } from '../auth/device-directory.js';
import { type Clock, systemClock } from '../clock.js';
import type { Config } from '../config/schema.js';
import type { AuthMode } from '../ingest/mqtt/topic-acl.js';
import { closeServer, listen, tlsOptions } from '../listeners.js';
import type { Logger } from '../log.js';
import type { DataRecord, Device } from '../model.js';
import type { DownlinkQueue } from './downlink-queue.js';
import { DownlinkService } from './downlink-service.js';
import { DownlinkStore } from './downlink-store.js';
import { type ReadAnswer, readDownlinks } from './http-read.js';
import { JetStreamDownlinkStore } from './jetstream-downlink-store.js';
import { type PullDevice, PullPoller } from './pull-poller.js';
import { createPushServer } from './push-server.js';
import { StatusReport } from './status-report.js';
import { targetOf } from './target.js';

export interface DownlinkDeps {
  config: Config;
  broker: Aedes;
  deviceOf(client: Client): Device | undefined;
  authMode(): AuthMode;
  log: Logger;
  clock?: Clock;
  /** The gateway's point store (`downlink.reportStatus`): outcome points are forwarded like uplinks. */
  append?(token: string, records: DataRecord[]): Promise<void>;
  /**
   * `store.engine: jetstream`: the cluster's shared downlink bucket and this node's name. The downlink
   * then lives in the bucket (one queue for every node) instead of `<store.dir>/downlink.sqlite`.
   */
  cluster?: { bucket(): Promise<KV>; node: string };
}

export interface RunningDownlink {
  /** The bound port of the push listener, when `downlink.port` is set. */
  port: number | undefined;
  service: DownlinkService;
  store: DownlinkQueue;
  forward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null;
  /** GET /data on the ingest port: this device's queued downlinks as TagoIO records. */
  readForHttp(device: Device, search: string): Promise<ReadAnswer>;
  /** Devices changed (reload): what a topic or a `device` field may name. */
  setDevices(config: Config): void;
  close(): Promise<void>;
}

export function downlinkEnabled(config: Config): boolean {
  return config.downlink.port !== undefined || config.devices.some((d) => d.downlink?.pull !== undefined);
}

/** Configured devices by name and by id (what a topic or a `device`/`serial` field may name). */
function deviceIndex(config: Config): Map<string, Device> {
  const index = new Map<string, Device>();
  for (const d of config.devices) {
    const device: Device = {
      id: deviceIdOf(d.token),
      name: d.name,
      token: d.token,
      params: d.params,
      tags: d.tags,
      ...(d.topics !== undefined ? { topics: d.topics } : {}),
    };
    index.set(d.name, device);
    index.set(device.id, device);
  }
  return index;
}

function pullDevicesOf(config: Config): PullDevice[] {
  return config.devices.flatMap((d) => {
    const pull = d.downlink?.pull;
    if (!pull) return [];
    const id = deviceIdOf(d.token);
    return [
      { id, name: d.name, token: d.token, variable: pull.variable, topic: pull.topic ?? `devices/${d.name}/downlink` },
    ];
  });
}

export async function startDownlink(deps: DownlinkDeps): Promise<RunningDownlink> {
  const { config, log } = deps;
  const dl = config.downlink;
  const clock = deps.clock ?? systemClock;
  const bounds = {
    ttlMs: dl.ttlMs,
    maxQueuedPerDevice: dl.maxQueuedPerDevice,
    maxQueued: dl.maxQueued,
    retryAfterSeconds: dl.retryAfterSeconds,
  };
  const store: DownlinkQueue = deps.cluster
    ? await JetStreamDownlinkStore.open({ kv: await deps.cluster.bucket(), node: deps.cluster.node, log, ...bounds })
    : new DownlinkStore({
        dir: config.store.engine === 'memory' ? null : config.store.dir,
        sync: config.store.sync,
        ...bounds,
        onCommitFailed: (err) =>
          log.error({ err }, 'downlink: committing deliveries failed; those messages stay queued and are sent again'),
      });
  const report = dl.reportStatus && deps.append ? new StatusReport(deps.append, log) : undefined;
  const uniqueDevices = (index: Map<string, Device>) => new Set(index.values());
  const service = new DownlinkService({
    store,
    broker: deps.broker,
    deviceOf: deps.deviceOf,
    authMode: deps.authMode,
    clock,
    log,
    sweepIntervalMs: dl.sweepIntervalMs,
    keepFinishedMs: dl.keepFinishedMs,
    ...(report ? { report } : {}),
  });
  await service.start();
  let devices = deviceIndex(config);
  report?.setDevices(uniqueDevices(devices));

  let server: Server | undefined;
  let port: number | undefined;
  if (dl.port !== undefined && dl.secret !== undefined) {
    server = createPushServer({
      secret: dl.secret,
      limits: { maxMessageBytes: dl.maxMessageBytes, maxTopicLevels: config.mqtt.maxTopicLevels },
      log,
      accept: (req) =>
        service.accept({
          target: targetOf(req.topic, req.device, devices, deps.authMode()),
          topic: req.topic,
          payload: req.payload,
          qos: req.qos,
          retain: req.retain,
          source: 'push',
        }),
      status: (id) => service.status(id),
      list: (st, limit) => service.list(st, limit),
      ...(dl.tls ? { tls: tlsOptions(dl.tls, 'downlink.tls') } : {}),
    });
    port = await listen(server, dl.port, dl.host);
  }

  const pullDevices = pullDevicesOf(config);
  const poller =
    pullDevices.length > 0
      ? new PullPoller({
          upstreamUrl: config.upstream.url,
          devices: pullDevices,
          service,
          store,
          clock,
          log,
          ...dl.pull,
        })
      : undefined;
  poller?.start();

  const reader = {
    variable: dl.httpVariable.toLowerCase(),
    take: (d: Device) => service.takeForHttp(d),
    upstreamUrl: config.upstream.url,
    timeoutMs: config.upstream.timeoutMs,
  };
  return {
    port,
    service,
    store,
    forward: (client, packet) => service.forward(client, packet),
    readForHttp: (device, search) => readDownlinks(reader, device, search),
    setDevices(next) {
      devices = deviceIndex(next);
      report?.setDevices(uniqueDevices(devices));
    },
    async close() {
      await poller?.stop();
      if (server) {
        const closed = closeServer(server);
        server.closeAllConnections();
        await closed;
      }
      service.close();
      await store.close();
    },
  };
}
