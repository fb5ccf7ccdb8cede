/**
 * The one metrics registry. It listens to the data path's diagnostics channels (gateway/events.ts) and
 * reads gauges from the running gateway when scraped; core code never imports prom-client. Every series
 * is prefixed `tago_edge_` and documented in docs/metrics.md (a test keeps the two in step). No token
 * ever becomes a label: labels are protocol, code, status class, reason, route (a configured name).
 */
import client from 'prom-client';
import { downlinkEvents } from '../downlink/downlink-events.js';
import { events } from '../events.js';

export interface GaugeSources {
  store(): { depthPoints: number; depthBytes: number; oldestAgeMs: number; deadLetters: number; maxBytes: number };
  mqttClients(): number;
  /** Publishes inside the gateway now, and connections whose next read waits for room (mqtt.maxPublishesInFlight). */
  mqttInFlight(): { publishes: number; readsWaiting: number };
  upstreamUp(): number;
  /** Downlink messages queued now (0 when the downlink is off). */
  downlinkDepth?(): number;
  /** Each route's queue and state (gateway/routes/route-runner.ts). */
  routes?(): RouteGaugeSource[];
}

interface RouteGaugeSource {
  name: string;
  depthPoints: number;
  oldestAgeMs: number;
  state: string;
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10];

export interface GatewayMetrics {
  registry: client.Registry;
  render(): Promise<{ contentType: string; body: string }>;
  close(): void;
}

export function createGatewayMetrics(sources: GaugeSources): GatewayMetrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'tago_edge_' });
  const unsub: Array<() => void> = [];

  // Ingest counts once per message: summed here and added to the counter when it is collected
  // (scrape), so the hot path pays an addition instead of a label lookup.
  // null: no message since the last collect (an inc(0) would still create the series, as before).
  const receivedPending: { http: number | null; mqtt: number | null } = { http: null, mqtt: null };
  const pointsReceived = new client.Counter({
    name: 'tago_edge_points_received_total',
    help: 'Points durably stored and acknowledged, by protocol',
    labelNames: ['protocol'],
    registers: [registry],
    collect() {
      for (const protocol of ['http', 'mqtt'] as const) {
        const n = receivedPending[protocol];
        if (n !== null) {
          receivedPending[protocol] = null;
          byProtocol[protocol].received.inc(n);
        }
      }
    },
  });
  const messagesRejected = new client.Counter({
    name: 'tago_edge_messages_rejected_total',
    help: 'Ingest messages refused, by protocol and error code',
    labelNames: ['protocol', 'code'],
    registers: [registry],
  });
  const ackLatency = new client.Histogram({
    name: 'tago_edge_ingest_ack_seconds',
    help: 'Time from a request/publish arriving to its acknowledgement (after the durable commit)',
    labelNames: ['protocol'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const pointsForwarded = new client.Counter({
    name: 'tago_edge_points_forwarded_total',
    help: 'Points TagoIO accepted (2xx)',
    registers: [registry],
  });
  const forwardRequests = new client.Counter({
    name: 'tago_edge_forward_requests_total',
    help: 'Forward requests to TagoIO, by status class (2xx, 4xx, 429, 5xx, error)',
    labelNames: ['status_class'],
    registers: [registry],
  });
  const forwardLatency = new client.Histogram({
    name: 'tago_edge_forward_seconds',
    help: 'Duration of forward requests to TagoIO',
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const commits = new client.Counter({
    name: 'tago_edge_store_commits_total',
    help: 'Store commits (each may carry many appends: group commit)',
    registers: [registry],
  });
  const commitLatency = new client.Histogram({
    name: 'tago_edge_store_commit_seconds',
    help: "Duration of store commits, sync included (from the flush to the commit thread's answer)",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  const drops = new client.Counter({
    name: 'tago_edge_points_dropped_total',
    help: 'Points dropped by a policy that allows it (store.whenFull: drop_oldest), by reason',
    labelNames: ['reason'],
    registers: [registry],
  });
  const deadLetters = new client.Counter({
    name: 'tago_edge_dead_letters_total',
    help: 'Messages or points moved to the dead letters, by reason',
    labelNames: ['reason'],
    registers: [registry],
  });
  // Successful parser runs are one per message too: summed like receivedPending (errors are rare and go
  // straight to the counter).
  let parserOkPending: number | null = null;
  const parserRuns = new client.Counter({
    name: 'tago_edge_parser_runs_total',
    help: 'Payload parser calls, by outcome (ok or error code)',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      if (parserOkPending === null) return;
      this.inc({ outcome: 'ok' }, parserOkPending);
      parserOkPending = null;
    },
  });
  const parserLatency = new client.Histogram({
    name: 'tago_edge_parser_seconds',
    help: 'Duration of payload parser calls (one call may carry several messages)',
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2],
    registers: [registry],
  });
  const parserConsole = new client.Counter({
    name: 'tago_edge_parser_console_lines_total',
    help: 'Lines parsers wrote with console.log/debug/error, by level',
    labelNames: ['level'],
    registers: [registry],
  });
  const mqttConnects = new client.Counter({
    name: 'tago_edge_mqtt_connections_total',
    help: 'MQTT connection events: connect, disconnect, refused',
    labelNames: ['event'],
    registers: [registry],
  });

  new client.Gauge({
    name: 'tago_edge_mqtt_clients',
    help: 'MQTT clients connected now',
    registers: [registry],
    collect() {
      this.set(sources.mqttClients());
    },
  });
  new client.Gauge({
    name: 'tago_edge_mqtt_publishes_in_flight',
    help: 'MQTT publishes read and not yet answered (bounded by mqtt.maxPublishesInFlight)',
    registers: [registry],
    collect() {
      this.set(sources.mqttInFlight().publishes);
    },
  });
  new client.Gauge({
    name: 'tago_edge_mqtt_reads_waiting',
    help: 'MQTT connections whose next read waits for room under mqtt.maxPublishesInFlight',
    registers: [registry],
    collect() {
      this.set(sources.mqttInFlight().readsWaiting);
    },
  });
  const storeGauge = (name: string, help: string, pick: (s: ReturnType<GaugeSources['store']>) => number) =>
    new client.Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(pick(sources.store()));
      },
    });
  storeGauge('tago_edge_store_depth_points', 'Points stored and not yet delivered', (s) => s.depthPoints);
  storeGauge('tago_edge_store_depth_bytes', 'Bytes of points stored and not yet delivered', (s) => s.depthBytes);
  storeGauge('tago_edge_store_capacity_bytes', 'store.maxBytes', (s) => s.maxBytes);
  storeGauge(
    'tago_edge_store_oldest_point_age_seconds',
    'Age of the oldest undelivered point',
    (s) => s.oldestAgeMs / 1000,
  );
  storeGauge('tago_edge_dead_letters', 'Dead letters held in the store now', (s) => s.deadLetters);
  new client.Gauge({
    name: 'tago_edge_upstream_up',
    help: '1 when the last forward attempt to TagoIO succeeded, 0 when it is failing',
    registers: [registry],
    collect() {
      this.set(sources.upstreamUp());
    },
  });

  const downlinkQueued = new client.Counter({
    name: 'tago_edge_downlink_queued_total',
    help: 'Downlink messages queued durably, by source (push, pull)',
    labelNames: ['source'],
    registers: [registry],
  });
  const downlinkDelivered = new client.Counter({
    name: 'tago_edge_downlink_delivered_total',
    help: 'Downlink messages a device took, by way (mqtt: PUBACK at QoS 1, written at QoS 0; http: GET /data)',
    labelNames: ['via'],
    registers: [registry],
  });
  const downlinkLatency = new client.Histogram({
    name: 'tago_edge_downlink_delivery_seconds',
    help: 'Time from a downlink being queued to its device taking it',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300, 3600],
    registers: [registry],
  });
  const downlinkExpired = new client.Counter({
    name: 'tago_edge_downlink_expired_total',
    help: 'Downlink messages whose downlink.ttlMs passed before a device took them (kept, status expired)',
    registers: [registry],
  });
  const downlinkDeadLettered = new client.Counter({
    name: 'tago_edge_downlink_dead_lettered_total',
    help: 'Downlink messages dead-lettered, by reason (overflow: past downlink.maxQueuedPerDevice)',
    labelNames: ['reason'],
    registers: [registry],
  });
  const downlinkRefused = new client.Counter({
    name: 'tago_edge_downlink_refused_total',
    help: 'Downlink listener requests refused, by error code',
    labelNames: ['code'],
    registers: [registry],
  });
  const downlinkPulls = new client.Counter({
    name: 'tago_edge_downlink_pull_requests_total',
    help: 'Pull-mode requests to TagoIO, by method (get, delete) and status class (2xx, 4xx, 429, 5xx, error)',
    labelNames: ['method', 'status_class'],
    registers: [registry],
  });
  const downlinkPulled = new client.Counter({
    name: 'tago_edge_downlink_pulled_total',
    help: 'Commands read from TagoIO buckets in pull mode and queued',
    registers: [registry],
  });
  new client.Gauge({
    name: 'tago_edge_downlink_depth',
    help: 'Downlink messages queued now, waiting for their device',
    registers: [registry],
    collect() {
      this.set(sources.downlinkDepth?.() ?? 0);
    },
  });

  const routeDeliveries = new client.Counter({
    name: 'tago_edge_route_deliveries_total',
    help: 'Delivery attempts per route, by outcome (delivered, retry, rate_limited, dead_letter, lagging)',
    labelNames: ['route', 'outcome'],
    registers: [registry],
  });
  const routePoints = new client.Counter({
    name: 'tago_edge_route_points_delivered_total',
    help: 'Points a route delivered (its destination confirmed them)',
    labelNames: ['route'],
    registers: [registry],
  });
  const routeDeadLettered = new client.Counter({
    name: 'tago_edge_route_points_dead_lettered_total',
    help: 'Points a route moved to the dead letters: refused by its destination, or lagging over maxLagMs',
    labelNames: ['route', 'outcome'],
    registers: [registry],
  });
  const routeLatency = new client.Histogram({
    name: 'tago_edge_route_delivery_seconds',
    help: 'Time of one delivery attempt to a route destination',
    labelNames: ['route'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  // Per-route gauges, read from the routes' status when scraped.
  const routeGauge = (name: string, help: string, value: (r: RouteGaugeSource) => number) =>
    new client.Gauge({
      name,
      help,
      labelNames: ['route'],
      registers: [registry],
      collect() {
        for (const r of sources.routes?.() ?? []) this.set({ route: r.name }, value(r));
      },
    });
  routeGauge('tago_edge_route_depth_points', 'Points queued for a route now', (r) => r.depthPoints);
  routeGauge('tago_edge_route_oldest_age_seconds', "Age of a route's oldest queued point", (r) => r.oldestAgeMs / 1000);
  routeGauge(
    'tago_edge_route_up',
    "1 while a route's destination answers (or has not been tried), 0 while its deliveries fail",
    (r) => (r.state === 'ok' || r.state === 'unknown' ? 1 : 0),
  );

  const byProtocol = {
    http: { received: pointsReceived.labels('http'), ack: ackLatency.labels('http') },
    mqtt: { received: pointsReceived.labels('mqtt'), ack: ackLatency.labels('mqtt') },
  };
  unsub.push(
    events.ingestAccepted.subscribe((e) => {
      receivedPending[e.protocol] = (receivedPending[e.protocol] ?? 0) + e.points;
      byProtocol[e.protocol].ack.observe(e.ackMs / 1000);
    }),
    events.ingestRejected.subscribe((e) => messagesRejected.inc({ protocol: e.protocol, code: e.code })),
    events.forwardResponse.subscribe((e) => {
      const cls =
        e.status === 0 ? 'error' : e.status === 429 ? '429' : e.status >= 500 ? '5xx' : e.status >= 400 ? '4xx' : '2xx';
      forwardRequests.inc({ status_class: cls });
      forwardLatency.observe(e.durationMs / 1000);
      if (cls === '2xx') pointsForwarded.inc(e.points);
    }),
    events.routeDelivery.subscribe((e) => {
      routeDeliveries.inc({ route: e.route, outcome: e.outcome });
      if (e.outcome === 'delivered') routePoints.inc({ route: e.route }, e.points);
      else if (e.outcome === 'dead_letter' || e.outcome === 'lagging') {
        routeDeadLettered.inc({ route: e.route, outcome: e.outcome }, e.points);
      }
      if (e.outcome !== 'lagging') routeLatency.observe({ route: e.route }, e.durationMs / 1000);
    }),
    events.storeCommit.subscribe((e) => {
      commits.inc();
      commitLatency.observe(e.durationMs / 1000);
    }),
    events.storeDrop.subscribe((e) => drops.inc({ reason: e.reason }, e.points)),
    events.deadLetter.subscribe((e) => deadLetters.inc({ reason: e.reason }, e.points)),
    events.parserRun.subscribe((e) => {
      if (e.outcome === 'ok') parserOkPending = (parserOkPending ?? 0) + e.messages;
      else parserRuns.inc({ outcome: e.outcome }, e.messages);
      parserLatency.observe(e.durationMs / 1000);
    }),
    events.parserConsole.subscribe((e) => parserConsole.inc({ level: e.level })),
    events.mqttClient.subscribe((e) => mqttConnects.inc({ event: e.kind })),
    downlinkEvents.queued.subscribe((e) => downlinkQueued.inc({ source: e.source })),
    downlinkEvents.delivered.subscribe((e) => {
      downlinkDelivered.inc({ via: e.via });
      downlinkLatency.observe(e.latencyMs / 1000);
    }),
    downlinkEvents.ended.subscribe((e) => {
      if (e.outcome === 'expired') downlinkExpired.inc();
      else downlinkDeadLettered.inc({ reason: e.reason });
    }),
    downlinkEvents.refused.subscribe((e) => downlinkRefused.inc({ code: e.code })),
    downlinkEvents.pull.subscribe((e) => {
      const s = e.status;
      const cls = s === 0 ? 'error' : s === 429 ? '429' : s >= 500 ? '5xx' : s >= 400 ? '4xx' : '2xx';
      downlinkPulls.inc({ method: e.method, status_class: cls });
      if (e.commands > 0) downlinkPulled.inc(e.commands);
    }),
  );

  return {
    registry,
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
    close() {
      for (const u of unsub) u();
      registry.clear();
    },
  };
}
