/**
 * Assembles the gateway: store → device directory → parsers → pipeline → listeners → forwarder, and
 * takes it apart in the reverse order on close: stop accepting, let in-flight acknowledgements finish
 * (their commits included), give the forwarder a bounded time, close the store.
 */
import type { TLSSocket } from 'node:tls';
import { createParserHost } from '../parsers/sandbox/index.js';
import { holdStore, type StoreHold } from './admin/admin-server.js';
import { localQueueOps } from './admin/queue-ops.js';
import { createAdmission, peerSocket } from './admission/index.js';
import { DeviceDirectory, deviceIdOf } from './auth/device-directory.js';
import type { Config } from './config/schema.js';
import { downlinkEnabled, type RunningDownlink, startDownlink } from './downlink/index.js';
import { events } from './events.js';
import type { Forwarder } from './forward/forwarder.js';
import { createHttpIngest, type HttpIngestServer } from './ingest/http/server.js';
import { createMqttIngest } from './ingest/mqtt/broker.js';
import type { ReadGate } from './ingest/mqtt/read-gate.js';
import { IngestPipeline } from './ingest/pipeline.js';
import { closeServer, listen, startMqttListeners, tlsOptions } from './listeners.js';
import { announce, createLogger, type Logger } from './log.js';
import { createGatewayMetrics } from './metrics/registry.js';
import { RouteRunner } from './routes/route-runner.js';
import { orphanKeys, planRoutes, RouteFanOut, routeOfKey } from './routes/routes.js';
import type { JetStreamStore } from './store/jetstream/jetstream-store.js';
import { ensureStoreDir, openJetStreamStore, openStore, storePath } from './store/open-store.js';
import { parseQueueKey } from './store/queue-key.js';
import type { Store } from './store/store.js';

export interface GatewayPorts {
  http: number;
  mqtt: number;
  mqtts?: number;
  ws?: number;
  wss?: number;
  downlink?: number;
}

export interface RunningGateway {
  ports: GatewayPorts;
  config: Config;
  store: Store;
  /** The primary route's forwarder (TagoIO's; the only one without `routes:`). */
  forwarder: Forwarder;
  routes: RouteRunner;
  log: Logger;
  /** Applies a new configuration's devices, parsers and limits without dropping connections. */
  reload(next: Config): void;
  /** Graceful stop; resolves when the store is closed. */
  close(): Promise<void>;
}

export async function startGateway(config: Config, opts: { log?: Logger } = {}): Promise<RunningGateway> {
  const log = opts.log ?? createLogger(config.log.level);
  let current = config;
  let shuttingDown = false;

  // The SQLite store's lock, and the admin socket `tago-edge queue` reaches it through: held until close.
  // A cluster node holds its local store.dir too: `tago-edge queue` on its machine reaches it the same way.
  const hold: StoreHold | undefined =
    config.store.engine !== 'memory' ? await holdStore(ensureStoreDir(config.store.dir), 'gateway', log) : undefined;
  let store: Store;
  let cluster: JetStreamStore | undefined;
  try {
    // The store queues by key: a device token, or a route's key for it (gateway/store/queue-key.ts).
    const idOfKey = (key: string) => deviceIdOf(parseQueueKey(key).token);
    const storeOpts = { deviceIdOf: idOfKey, log, batchMaxBytes: config.upstream.batchMaxBytes };
    if (config.store.engine === 'jetstream') {
      cluster = await openJetStreamStore(config.store, storeOpts);
      store = cluster;
    } else {
      store = openStore(config.store, storeOpts);
    }
  } catch (err) {
    await hold?.close();
    throw err;
  }
  const planned = planRoutes(config);
  // `queue stats` through the admin socket also shows each route's live state (once the routes run).
  let liveRoutes: RouteRunner | undefined;
  hold?.serve(
    localQueueOps(
      store,
      cluster
        ? `jetstream ${cluster.names.stream} (${config.store.jetstream.servers.join(', ')})`
        : storePath(config.store),
      planned,
      () => liveRoutes?.status() ?? [],
    ),
  );
  const directory = new DeviceDirectory(config.auth.mode, config.devices, store.refusedTokens());
  // A token another cluster node's forwarder saw TagoIO refuse is refused here too.
  store.onRefused?.((token) => directory.refuse(token));
  const parsers = createParserHost({ timeoutMs: config.parsers.timeoutMs, memoryMb: config.parsers.memoryMb });
  let routes: RouteRunner;
  try {
    routes = new RouteRunner(planned, store, directory, config.upstream, log);
  } catch (err) {
    // A route's certificate file unreadable, say: the message names the config path.
    await parsers.close();
    await store.close();
    await hold?.close();
    throw err;
  }
  liveRoutes = routes;
  const forwarder = routes.primary;
  const orphans = orphanKeys(planned, store);
  if (orphans.length > 0) {
    const byRoute = new Map<string, number>();
    for (const k of orphans) byRoute.set(routeOfKey(planned, k), (byRoute.get(routeOfKey(planned, k)) ?? 0) + 1);
    log.warn(
      { routes: Object.fromEntries(byRoute) },
      'the store holds points of routes no longer configured; they stay stored until the route is configured again',
    );
  }
  const pipeline = new IngestPipeline({ store: new RouteFanOut(planned, store), parsers });
  const admission = createAdmission(config, log);

  let downlink: RunningDownlink | undefined;
  let mqttClients = 0;
  let mqttGate: ReadGate | undefined;
  const metrics = createGatewayMetrics({
    store: () => store.stats(),
    mqttClients: () => mqttClients,
    mqttInFlight: () => ({ publishes: mqttGate?.inFlight ?? 0, readsWaiting: mqttGate?.readsWaiting ?? 0 }),
    downlinkDepth: () => downlink?.store.depth() ?? 0,
    routes: () => routes.status(),
    upstreamUp: () => (forwarder.state().state === 'ok' || forwarder.state().state === 'unknown' ? 1 : 0),
  });

  // The store counts as full from the moment it refused an append until space frees again.
  let storeFull = false;
  const unsubscribeFull = events.ingestRejected.subscribe((e) => {
    if (e.code === 'EDGE_ERR_STORE_FULL') storeFull = true;
  });
  store.onSpace(() => {
    storeFull = false;
  });

  const readiness = () => {
    const s = store.stats();
    const upstream = forwarder.state();
    const storeWritable = !storeFull && store.hasRoom(1);
    return {
      ready: !shuttingDown && storeWritable,
      shuttingDown,
      listeners: { http: true, mqtt: true },
      store: { writable: storeWritable, depthPoints: s.depthPoints, depthBytes: s.depthBytes, maxBytes: s.maxBytes },
      // Upstream trouble is reported, not fatal: the store rides it out.
      upstream,
      ...(config.routes ? { routes: routes.status() } : {}),
      ...(cluster ? { cluster: cluster.clusterStatus() } : {}),
    };
  };

  /** mTLS, all transports: a verified client certificate whose CN is a device's `certificateCN`. */
  function deviceFromSocket(sock: Partial<TLSSocket>) {
    if (typeof sock.getPeerCertificate !== 'function' || !sock.authorized) return undefined;
    const cn = sock.getPeerCertificate().subject?.CN;
    return typeof cn === 'string' ? directory.byCertificateCN(cn, current.devices) : undefined;
  }

  const httpServer: HttpIngestServer = createHttpIngest({
    config: config.http,
    directory,
    pipeline,
    log,
    metrics: () => metrics.render(),
    readiness,
    isShuttingDown: () => shuttingDown,
    admit: (req) => admission.http(req, null),
    limit: (_req, device) => admission.httpUpload(device),
    onAuthFailure: (req) => admission.httpAuthFailure(req),
    ...(config.http.tls ? { tls: tlsOptions(config.http.tls, 'http.tls') } : {}),
    deviceFromCertificate: (req) => deviceFromSocket(req.socket as Partial<TLSSocket>),
    ...(downlinkEnabled(config)
      ? {
          readData: (device, search) =>
            downlink
              ? downlink.readForHttp(device, search)
              : Promise.resolve({ status: 200, body: { status: true, result: [] } }),
        }
      : {}),
  });

  const mqtt = await createMqttIngest({
    config: config.mqtt,
    directory,
    pipeline,
    store,
    log,
    isShuttingDown: () => shuttingDown,
    admitConnect: (client) => admission.mqttConnect(client),
    onAuthFailure: (client) => admission.mqttAuthFailure(client),
    admitPublish: (client, device) => admission.mqttPublish(client, device),
    authMode: () => current.auth.mode,
    // The TLS socket for MQTTS, and the one under the WebSocket for WSS.
    deviceFromCertificate: (client) => deviceFromSocket(peerSocket(client)),
    ...(downlinkEnabled(config)
      ? { forward: (client, packet) => (downlink ? downlink.forward(client, packet) : packet) }
      : {}),
  });
  mqttGate = mqtt.gate;
  mqtt.broker.on('client', () => mqttClients++);
  mqtt.broker.on('clientDisconnect', () => mqttClients--);

  // Before the device listeners: a device that subscribes at once finds its queued messages.
  if (downlinkEnabled(config)) {
    downlink = await startDownlink({
      config,
      broker: mqtt.broker,
      deviceOf: (client) => mqtt.deviceOf(client),
      authMode: () => current.auth.mode,
      log,
      // Command status records are TagoIO's: the primary route's queue, when there is one.
      append: (token, records) => (planned.some((r) => r.primary) ? store.append(token, records) : Promise.resolve()),
      ...(cluster
        ? { cluster: { bucket: () => (cluster as JetStreamStore).downlinkBucket(), node: cluster.node } }
        : {}),
    });
  }
  const httpPort = await listen(httpServer, config.http.port, config.http.host);
  const mqttListeners = await startMqttListeners(mqtt.broker, config.mqtt);
  const ports: GatewayPorts = {
    http: httpPort,
    ...mqttListeners.ports,
    ...(downlink?.port !== undefined ? { downlink: downlink.port } : {}),
  };
  routes.start();
  cluster?.startForwarding();
  announce(log, { event: 'listening', ...ports, upstream: config.upstream.url, store: config.store.engine });

  let closing: Promise<void> | null = null;
  return {
    ports,
    config,
    store,
    forwarder,
    routes,
    log,
    reload(next) {
      // Devices, parsers and limits apply at once; listeners, upstream and store need a restart.
      const restartOnly = (['http', 'mqtt', 'upstream', 'store', 'parsers', 'downlink', 'routes'] as const).filter(
        (k) => JSON.stringify(next[k]) !== JSON.stringify(current[k]),
      );
      if (restartOnly.length > 0) {
        log.warn({ sections: restartOnly }, 'these configuration sections change only after a restart');
      }
      current = next;
      directory.setDevices(next.auth.mode, next.devices);
      downlink?.setDevices(next);
      admission.update(next);
      log.info({ event: 'reloaded', devices: next.devices.length }, 'configuration reloaded');
    },
    close() {
      closing ??= (async () => {
        shuttingDown = true;
        const t0 = Date.now();
        // 1. Stop accepting: no new connections; new requests on open ones get 503 / no PUBACK.
        const httpClosed = closeServer(httpServer);
        for (const s of mqttListeners.servers) void closeServer(s);
        for (const w of mqttListeners.wsServers) w.close();
        // 2. Let acknowledgements in flight finish: their commits land before the store closes.
        await Promise.race([pipeline.idle(), new Promise((r) => setTimeout(r, 10_000).unref())]);
        await downlink?.close();
        await mqtt.close();
        httpServer.closeAllConnections();
        await httpClosed;
        // 3. The routes' forwarders get a bounded time; whatever they do not deliver stays stored.
        await routes.stop(current.shutdown.forwardGraceMs);
        await parsers.close();
        await store.close();
        await hold?.close();
        metrics.close();
        unsubscribeFull();
        announce(log, { event: 'stopped', ms: Date.now() - t0 });
        log.flush?.();
      })();
      return closing;
    },
  };
}
