/**
 * How much load one simulator process can generate, honestly measured. Against bare servers in another
 * process (aedes 1.x without persistence on TCP, node:http answering 200 `1 Data Added`):
 *   1. memory per 1,000 MQTT connections (RSS and heap after GC, before vs after the ramp);
 *   2. the highest steady points/s over MQTT QoS 1 and over HTTP: a rate ladder, 5 s per step (after a 1 s
 *      warm-up step), steady = acked ≥ 99 % of offered, nothing unacked, p99 from schedule < 1 s;
 *   3. scheduling lag p99 at that rate.
 *
 *   npx tsc -p tsconfig.build.json && node --expose-gc dist/loadtests/bench/simulator-bench.js [--connections 5000]
 *
 * The same file runs the bare servers when started with `--serve` (forked by the bench).
 */
import { fork } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Aedes } from 'aedes';
import { type FleetOptions, type FleetSummary, runFleet } from '../../simulators/fleet/index.js';

async function serve(): Promise<void> {
  const aedes = await Aedes.createBroker();
  const mqtt = createNetServer(aedes.handle as (s: import('node:net').Socket) => void);
  await new Promise<void>((r) => mqtt.listen(0, '127.0.0.1', r));
  const http = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":true,"result":"1 Data Added"}');
    });
  });
  http.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  process.send?.({
    mqtt: (mqtt.address() as AddressInfo).port,
    http: (http.address() as AddressInfo).port,
  });
}

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};

function gcMemory(): { rss: number; heap: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed };
}

const mb = (b: number): string => (b / 1024 / 1024).toFixed(1);

async function memoryPerThousand(target: string, connections: number): Promise<void> {
  const before = gcMemory();
  let after = before;
  const s = await runFleet(
    {
      protocol: 'mqtt',
      targetMqtt: target,
      devices: connections,
      ratePerSec: connections,
      count: 1,
      connectRatePerSec: 2000,
    },
    {
      startAt: () => {
        after = gcMemory();
        return performance.timeOrigin + performance.now();
      },
    },
  );
  const per1k = (x: number) => mb(((x * 1000) / connections) | 0);
  console.log(
    `memory: ${s.connections.connected}/${connections} MQTT connections: RSS +${mb(after.rss - before.rss)} MB, heap +${mb(after.heap - before.heap)} MB` +
      ` => per 1,000 connections RSS ${per1k(after.rss - before.rss)} MB, heap ${per1k(after.heap - before.heap)} MB`,
  );
}

function steady(s: FleetSummary, offered: number): boolean {
  return (
    s.counts.unacked === 0 &&
    s.counts.errors === 0 &&
    s.achieved.ackedPerSec >= 0.99 * offered &&
    s.latencyMs.fromSchedule.p99 < 1000
  );
}

async function ladder(name: string, base: FleetOptions, rates: number[]): Promise<void> {
  await runFleet({ ...base, ratePerSec: rates[0]!, durationMs: 1_000 }); // warm-up, discarded
  let best: { rate: number; s: FleetSummary } | undefined;
  for (const rate of rates) {
    const s = await runFleet({ ...base, ratePerSec: rate, durationMs: 5_000, drainMs: 5_000 });
    const ok = steady(s, rate);
    console.log(
      `${name}: offered ${rate}/s → acked ${s.achieved.ackedPerSec}/s, p99 from schedule ${s.latencyMs.fromSchedule.p99} ms,` +
        ` from send ${s.latencyMs.fromSend.p99} ms, lag p99 ${s.schedulingLagMs.p99} ms, unacked ${s.counts.unacked}, errors ${s.counts.errors}` +
        ` ${ok ? 'steady' : 'NOT steady'}`,
    );
    if (!ok) break;
    best = { rate, s };
  }
  if (best) {
    console.log(
      `${name}: highest steady ${best.rate} points/s (scheduling lag p99 ${best.s.schedulingLagMs.p99} ms, p99 from schedule ${best.s.latencyMs.fromSchedule.p99} ms)`,
    );
  } else console.log(`${name}: not steady even at ${rates[0]}/s`);
}

async function main(): Promise<void> {
  console.log(
    `simulator-bench: node ${process.version}, ${cpus().length} x ${cpus()[0]?.model}; servers in a separate process`,
  );
  if (!(globalThis as { gc?: unknown }).gc) console.log('(run with --expose-gc for stable memory figures)');
  const child = fork(fileURLToPath(import.meta.url), ['--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ports = await new Promise<{ mqtt: number; http: number }>((r) => child.once('message', (m) => r(m as never)));
  try {
    await memoryPerThousand(`mqtt://127.0.0.1:${ports.mqtt}`, arg('--connections', 5000));
    const devices = arg('--devices', 500);
    const rates = [2_000, 5_000, 10_000, 15_000, 20_000, 30_000, 40_000];
    await ladder(
      'mqtt qos1',
      { protocol: 'mqtt', targetMqtt: `mqtt://127.0.0.1:${ports.mqtt}`, devices, connectRatePerSec: 2000 },
      rates,
    );
    await ladder(
      'http',
      { protocol: 'http', targetHttp: `http://127.0.0.1:${ports.http}`, devices, httpConnections: 100 },
      rates,
    );
  } finally {
    child.kill();
  }
}

if (process.argv.includes('--serve')) await serve();
else await main();
