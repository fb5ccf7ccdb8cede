/**
 * (f) cluster, opt-in (`--only cluster`): what the `store.engine: jetstream` store costs one gateway node,
 * against the same gateway on SQLite and against JetStream itself. In one run it starts a 1-server JetStream
 * cluster (the gateway's streams at replicas 1) and a 3-server one (replicas 3), on loopback (Debian's
 * nats-server, loadtests/lib/nats-cluster.ts), a gateway on each and one on SQLite (the bench's config, all
 * forwarding to cloud-sim), and measures, per scenario and run, one after another:
 *   gw sqlite → nats R1 → gw R1 → nats R3 → gw R3
 * where `nats Rn` is the bare publish-ack loop on that cluster with the generator's shape and concurrency
 * (jetstream-floor.ts). Two scenarios: MQTT QoS 1 json1 with the closed window (the first of `--conns`
 * connections, `--window` outstanding each) and HTTP POST /data with 100 autocannon connections. `--repeat`
 * repeats that order; the ratios are medians of the runs' (cluster-summary.ts). The rows carry no verdicts:
 * there is no target for the cluster yet.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { closedWindow, closeFixedFleet, connectFixedFleet } from '../../../simulators/fleet/fixed-load.js';
import { type NatsCluster, startNatsCluster } from '../../lib/nats-cluster.js';
import type { Proc } from '../../lib/processes.js';
import { clusterTable, SYSTEMS } from '../cluster-summary.js';
import { type BenchCtx, type BenchOptions, PAYLOAD, settle, tokenFor, windowMeter } from '../context.js';
import { insideMeter } from '../gateway-inside.js';
import { httpBenchInChild } from '../http-load.js';
import { type FloorOptions, jetstreamFloorInChild } from '../jetstream-floor.js';
import { collector, fmt, log, type Row } from '../results.js';
import type { Phase } from './phase.js';

/** The floor's stream prefix: apart from the gateway's (TAGO_EDGE), whose forwarders would consume it. */
const FLOOR_PREFIX = 'BENCH_FLOOR';
const HTTP_TOKENS = Array.from({ length: 100 }, (_, i) => `bench-http-${i}`);
/** The one record of the HTTP body (http-load.ts's) and of json1: what the floor's messages carry. */
const RECORD = { variable: 'temperature', value: 21.5, unit: 'C' };

interface Measured {
  msgsPerSec: number;
  pointsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** The system's CPU and scheduling in the window, and the gateway's own view of it. */
  usage: Partial<Row>;
}

interface Target {
  system: string;
  /** A gateway: its process; a floor: the cluster it publishes to. */
  gw?: Proc;
  cluster?: { nats: NatsCluster; replicas: number };
}

function methodNote(o: BenchOptions): string {
  return `cluster method: one gateway node (the bench's config, forwarding to cloud-sim) on store.engine jetstream with store.jetstream.replicas 1 on a 1-server cluster (gw R1) and 3 on a 3-server cluster (gw R3), all nats-servers on this machine's loopback and cores (Debian nats-server 2.9, default settings), and the same gateway on SQLite (gw sqlite, sync=full). nats Rn: a bare JetStream publish-ack loop in a fresh Node process on that cluster, to a stream provisioned as the gateway's (provision.ts: work queue, file storage, same replicas), one-record messages with the gateway's headers and a unique Nats-Msg-Id, with the generator's shape: MQTT ${o.conns[0]} lanes × ${o.window} outstanding, HTTP ${o.httpConns} lanes × 1. The gateway publishes one device's appends one after another (at most one publish in flight per device). Order per run: gw sqlite, nats R1, gw R1, nats R3, gw R3, every gateway's queue forwarded before each measurement. Durability differs: an ack from JetStream means the message is in the servers' page cache (R3: on 2 of 3 servers); nats-server does not fsync each write by default (it leaves writes to the OS and syncs periodically: JetStream sync_interval, 2 min by default, 'always' for an fsync per write; Debian's 2.9.10 does not know the option), while the SQLite store's commit (sync=full) fsyncs before the PUBACK or 200.`;
}

async function measureMqtt(ctx: BenchCtx, t: Target): Promise<Measured> {
  const { opts } = ctx;
  const conns = opts.conns[0] as number;
  const payload = PAYLOAD.json1 as (typeof PAYLOAD)[string];
  if (t.cluster) return floor(t.cluster, { lanes: conns, window: opts.window, tokenPrefix: 'bench-json1-' }, opts);
  const gw = t.gw as Proc;
  const clients = await connectFixedFleet(`mqtt://127.0.0.1:${gw.ports.mqtt}`, conns, tokenFor('json1'), {
    noDelay: opts.noDelay,
  });
  const meter = windowMeter(gw.pid);
  const inside = insideMeter(`http://127.0.0.1:${gw.ports.http}/metrics`);
  const r = await closedWindow(clients, payload, {
    window: opts.window,
    warmupMs: opts.warmupS * 1000,
    durationMs: opts.durationS * 1000,
    onWindow: (edge) => {
      meter.onWindow(edge);
      inside.onWindow(edge);
    },
  });
  const view = await inside.result();
  await closeFixedFleet(clients);
  return {
    msgsPerSec: r.msgsPerSec,
    pointsPerSec: r.pointsPerSec,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    errors: r.errors,
    usage: { ...meter.result(r.msgsPerSec * opts.durationS), ...(view ? { inside: view } : {}) },
  };
}

async function measureHttp(ctx: BenchCtx, t: Target): Promise<Measured> {
  const { opts } = ctx;
  if (t.cluster) return floor(t.cluster, { lanes: opts.httpConns, window: 1, tokenPrefix: 'bench-http-' }, opts);
  const gw = t.gw as Proc;
  const url = `http://127.0.0.1:${gw.ports.http}`;
  const meter = windowMeter(gw.pid);
  const inside = insideMeter(`${url}/metrics`);
  const r = await httpBenchInChild(url, {
    connections: opts.httpConns,
    warmupSeconds: opts.warmupS,
    seconds: opts.durationS,
    tokens: HTTP_TOKENS,
    onWindow: (edge) => {
      meter.onWindow(edge);
      inside.onWindow(edge);
    },
  });
  const view = await inside.result();
  return {
    msgsPerSec: r.reqPerSec,
    pointsPerSec: r.reqPerSec,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    errors: r.non2xx + r.errors,
    usage: { ...meter.result(r.reqPerSec * opts.durationS), ...(view ? { inside: view } : {}) },
  };
}

async function floor(
  c: { nats: NatsCluster; replicas: number },
  shape: Pick<FloorOptions, 'lanes' | 'window' | 'tokenPrefix'>,
  opts: BenchOptions,
): Promise<Measured> {
  let meter: ReturnType<typeof windowMeter> | undefined;
  const r = await jetstreamFloorInChild(
    {
      servers: c.nats.servers,
      replicas: c.replicas,
      prefix: FLOOR_PREFIX,
      warmupMs: opts.warmupS * 1000,
      durationMs: opts.durationS * 1000,
      record: RECORD,
      ...shape,
    },
    (edge, pid) => {
      meter ??= windowMeter(pid);
      meter.onWindow(edge);
    },
  );
  return {
    msgsPerSec: r.msgsPerSec,
    pointsPerSec: r.pointsPerSec,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    errors: r.errors,
    usage: meter?.result(r.msgsPerSec * opts.durationS) ?? {},
  };
}

export const clusterPhase: Phase = {
  name: 'cluster',
  about:
    'cluster store: one gateway node on JetStream R1 and R3 (local nats-servers) and on SQLite, MQTT QoS 1 json1 (first of --conns) and HTTP 100c, against a bare JetStream publish-ack loop of the same shape',
  sharedGateway: false,
  optIn: true,
  method: methodNote,
  report: clusterTable,
  async run(ctx) {
    const out = collector(ctx.label);
    const { opts } = ctx;
    const cdir = join(ctx.dir, 'cluster');
    const clusters: NatsCluster[] = [];
    const gateways: Proc[] = [];
    try {
      log('cluster: starting a 1-server and a 3-server JetStream cluster');
      const r1 = await startNatsCluster(1, { name: 'tago-edge-bench-r1' });
      clusters.push(r1);
      const r3 = await startNatsCluster(3, { name: 'tago-edge-bench-r3' });
      clusters.push(r3);
      const gateway = async (name: string, store: Record<string, unknown>) => {
        const d = join(cdir, name);
        mkdirSync(d, { recursive: true });
        const p = await ctx.startGateway(d, undefined, store);
        gateways.push(p);
        return p;
      };
      const jetstreamStore = (nats: NatsCluster, replicas: number, node: string) => ({
        engine: 'jetstream',
        jetstream: { servers: nats.servers, replicas, node },
      });
      const targets: Target[] = [
        { system: SYSTEMS.sqlite, gw: await gateway('sqlite', {}) },
        { system: SYSTEMS.floorR1, cluster: { nats: r1, replicas: 1 } },
        { system: SYSTEMS.gwR1, gw: await gateway('r1', jetstreamStore(r1, 1, 'bench-r1')) },
        { system: SYSTEMS.floorR3, cluster: { nats: r3, replicas: 3 } },
        { system: SYSTEMS.gwR3, gw: await gateway('r3', jetstreamStore(r3, 3, 'bench-r3')) },
      ];
      const floorOf: Record<string, string> = { [SYSTEMS.gwR1]: SYSTEMS.floorR1, [SYSTEMS.gwR3]: SYSTEMS.floorR3 };
      const urls = gateways.map((g) => `http://127.0.0.1:${g.ports.http}`);
      const scenarios = [
        { name: `cluster mqtt json1 ${opts.conns[0]}c`, unit: 'msg/s', measure: measureMqtt },
        { name: `cluster http ${opts.httpConns}c`, unit: 'req/s', measure: measureHttp },
      ];
      for (let run = 1; run <= opts.repeat; run++) {
        for (const s of scenarios) {
          const section = `${s.name}${opts.repeat > 1 ? ` #${run}` : ''}`;
          const got = new Map<string, number>();
          for (const t of targets) {
            // Every gateway's queue forwarded first: no gateway drains on the cores while another system is measured.
            for (const u of urls) await settle(u);
            const { msgsPerSec, pointsPerSec, p50Ms, p99Ms, errors, usage } = await s.measure(ctx, t);
            got.set(t.system, msgsPerSec);
            const f = floorOf[t.system];
            const base = f !== undefined ? got.get(f) : undefined;
            const sqlite = t.system === SYSTEMS.gwR3 ? got.get(SYSTEMS.sqlite) : undefined;
            out.addRow({
              section,
              target: t.system,
              figure: 'msgs/s',
              value: msgsPerSec,
              pointsPerSec,
              unit: `${s.unit} (${fmt(pointsPerSec)} points/s${errors ? `, ${errors} errors` : ''}${sqlite ? `; ${fmt((msgsPerSec / sqlite) * 100)} % of gw sqlite` : ''})`,
              p50: p50Ms,
              p99: p99Ms,
              ...(f !== undefined && base ? { floor: f, ratio: msgsPerSec / base } : {}),
              ...usage,
            });
          }
        }
      }
    } finally {
      for (const g of gateways) await g.stop(30_000).catch(() => undefined);
      for (const c of clusters) await c.destroy();
    }
    return out;
  },
};
