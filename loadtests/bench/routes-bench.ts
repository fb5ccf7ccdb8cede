/**
 * Routes benchmark: the gateway with one, two and three routes, in the same run, alternating —
 * 1 = TagoIO (cloud-sim), 2 = + PostgreSQL (a real server in a temp dir), 3 = + an MQTT bridge to a bare
 * mosquitto. Each point the gateway takes is stored once per route and delivered by each route.
 *
 * Method: 50 MQTT connections, QoS 1 closed window of 10, json1 (one point per publish), `--warmup` s
 * discarded then `--seconds` measured; then the load stops and the gateway delivers what every route still
 * holds. Printed per run: ingest points/s (PUBACKs in the window), PUBACK p99, the time to empty every route
 * after the load, and the gateway's CPU per point stored from the first publish until every route is empty
 * (all threads, /proc). The summary gives the median of `--repeat` runs and each count against one route;
 * the PostgreSQL route's cost per point is CPU/point(2 routes) − CPU/point(1 route).
 *
 * Run: npm run build && node dist/loadtests/bench/routes-bench.js [--seconds 10] [--warmup 2] [--repeat 3]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedWindow, closeFixedFleet, connectFixedFleet } from '../../simulators/fleet/fixed-load.js';
import { scriptFlags } from '../lib/args.js';
import { startPostgres } from '../lib/postgres-server.js';
import { cpuSeconds, type Proc, startCli, startCloudSim, startMosquitto } from '../lib/processes.js';
import { writeLoopbackConfig } from '../stack.js';
import { metricSum } from './gateway-inside.js';

const {
  seconds: SECONDS,
  warmup: WARMUP,
  repeat: REPEAT,
} = scriptFlags('bench/routes-bench', {
  seconds: { kind: 'number', default: 10, min: 1, help: 'measured seconds per run' },
  warmup: { kind: 'number', default: 2, min: 0, help: 'warm-up seconds discarded before each' },
  repeat: { kind: 'number', default: 3, min: 1, help: 'runs per route count, alternating' },
} as const);
const CONNS = 50;
const WINDOW = 10;

interface Run {
  routes: number;
  pointsPerSec: number;
  p99Ms: number;
  drainSeconds: number;
  cpuUsPerPoint: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? (s[(s.length - 1) / 2] as number)
    : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

async function measure(routes: number, k: number, pgUrl: string, brokerPort: number, simUrl: string): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'tago-edge-routes-bench-'));
  let gw: Proc | undefined;
  try {
    const list = [
      { name: 'cloud', destination: { type: 'tagoio' } },
      { name: 'plant', destination: { type: 'postgres', url: pgUrl, table: `bench_${routes}_${k}` } },
      { name: 'bridge', destination: { type: 'mqtt', url: `mqtt://127.0.0.1:${brokerPort}`, topic: 'edge/{device}' } },
    ].slice(0, routes);
    const config = writeLoopbackConfig(dir, simUrl, 600_000, {
      store: { sync: 'full' },
      limits: { authFailuresPerMinute: 0 },
      routes: list,
    });
    gw = await startCli('gateway', ['gateway', '--config', config]);
    const base = `http://127.0.0.1:${gw.ports.http}`;
    const clients = await connectFixedFleet(`mqtt://127.0.0.1:${gw.ports.mqtt}`, CONNS, (i) => `routes-bench-${i}`);
    const pid = gw.child.pid as number;
    const cpu0 = cpuSeconds(pid);
    const body = Buffer.from(JSON.stringify({ variable: 'temperature', value: 21.5, unit: 'C' }));
    const r = await closedWindow(
      clients,
      { name: 'json1', topic: 'tago/data/post', body, points: 1 },
      { window: WINDOW, warmupMs: WARMUP * 1000, durationMs: SECONDS * 1000 },
    );
    await closeFixedFleet(clients);
    const stopped = performance.now();
    for (;;) {
      const ready = (await (await fetch(`${base}/readyz`)).json()) as { routes: Array<{ depthPoints: number }> };
      if (ready.routes.every((x) => x.depthPoints === 0)) break;
      if (performance.now() - stopped > 300_000) throw new Error('routes did not empty within 300 s');
      await new Promise((res) => setTimeout(res, 50));
    }
    const drainSeconds = (performance.now() - stopped) / 1000;
    const cpu = cpuSeconds(pid) - cpu0;
    const stored = metricSum(await (await fetch(`${base}/metrics`)).text(), 'tago_edge_points_received_total');
    return { routes, pointsPerSec: r.pointsPerSec, p99Ms: r.p99Ms, drainSeconds, cpuUsPerPoint: (cpu * 1e6) / stored };
  } finally {
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  process.stdout.write(
    `tago-edge routes bench: ${cpus().length} cores, Node ${process.version}; ${CONNS} MQTT connections, QoS 1 window ${WINDOW}, json1; ${WARMUP} s warm-up + ${SECONDS} s; store sync=full; 1 = TagoIO (cloud-sim), 2 = + PostgreSQL, 3 = + MQTT bridge (mosquitto); ${REPEAT} alternating runs each\n`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'tago-edge-routes-bench-stack-'));
  const procs: Proc[] = [];
  const pg = await startPostgres();
  try {
    const sim = await startCloudSim(0);
    procs.push(sim);
    const broker = await startMosquitto(dir);
    procs.push(broker);
    const runs: Run[] = [];
    for (let k = 0; k < REPEAT; k++) {
      for (const n of [1, 2, 3]) {
        const r = await measure(n, k, pg.url, broker.ports.mqtt as number, String(sim.ports.url));
        runs.push(r);
        process.stdout.write(
          `#${k + 1} ${n} route(s): ${Math.round(r.pointsPerSec).toLocaleString('en-US')} points/s  PUBACK p99 ${r.p99Ms.toFixed(1)} ms  every route empty ${r.drainSeconds.toFixed(1)} s after  cpu ${r.cpuUsPerPoint.toFixed(1)} µs/point\n`,
        );
      }
    }
    const of = (n: number, f: (r: Run) => number) => median(runs.filter((r) => r.routes === n).map(f));
    const pps1 = of(1, (r) => r.pointsPerSec);
    const cpu1 = of(1, (r) => r.cpuUsPerPoint);
    process.stdout.write('\nroutes  points/s (median)  vs 1 route  cpu µs/point  vs 1 route  empty after (s)\n');
    for (const n of [1, 2, 3]) {
      const pps = of(n, (r) => r.pointsPerSec);
      const cpu = of(n, (r) => r.cpuUsPerPoint);
      process.stdout.write(
        `${String(n).padEnd(7)} ${Math.round(pps).toLocaleString('en-US').padStart(17)}  ${(pps / pps1).toFixed(2).padStart(10)}  ${cpu.toFixed(1).padStart(12)}  ${(cpu / cpu1).toFixed(2).padStart(10)}  ${of(
          n,
          (r) => r.drainSeconds,
        )
          .toFixed(1)
          .padStart(15)}\n`,
      );
    }
    process.stdout.write(
      `PostgreSQL route: +${(of(2, (r) => r.cpuUsPerPoint) - cpu1).toFixed(1)} µs of gateway CPU per point (median of 2 routes − median of 1)\n`,
    );
  } finally {
    for (const p of procs.reverse()) await p.stop();
    await pg.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
