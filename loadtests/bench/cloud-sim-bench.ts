/**
 * What cloud-sim costs per forwarded point. In `npm run bench` and `npm run loadtest` it stands in for TagoIO
 * on the same two cores as the gateway, so every µs it spends per point is taken from the system under test
 * (a real TagoIO is not on the gateway's machine). The figure to keep small.
 *
 * cloud-sim runs as the real CLI (`tago-edge cloud-sim --keep-records N`) in its own process; this process
 * POSTs the gateway's kind of batch (105 hex-parser records per request, 3 per frame sharing one `time` and
 * `group`) from 8 connections for the measured window, and reads cloud-sim's CPU from /proc.
 *
 *   npx tsc -p tsconfig.build.json && node dist/loadtests/bench/cloud-sim-bench.js [--seconds 5] [--keep 100]
 */
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { cpuSeconds, startCloudSim } from '../lib/processes.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '5' }, keep: { type: 'string', default: '100' } },
});
const seconds = Number(values.seconds);
const keep = Number(values.keep);
const CONNECTIONS = 8;
const DEVICES = 50;

/** A forwarded batch as the gateway sends it: 35 frames of the example hex parser, 3 records each. */
function batch(t0: number): string {
  const records: unknown[] = [];
  for (let m = 0; m < 35; m++) {
    const time = new Date(t0 + m).toISOString();
    const group = String(t0 + m);
    records.push(
      { variable: 'battery', value: 3.6, unit: 'V', group, time },
      { variable: 'temperature', value: 23.5, unit: '°C', group, time },
      { variable: 'humidity', value: 55, unit: '%', group, time },
    );
  }
  return JSON.stringify(records);
}
const POINTS_PER_REQUEST = 105;

async function main(): Promise<void> {
  const sim = await startCloudSim(keep);
  const pool = new Pool(String(sim.ports.url), { connections: CONNECTIONS });
  const bodies = Array.from({ length: DEVICES }, (_, d) => batch(Date.now() + d * 1000));
  let requests = 0;
  const load = async (ms: number) => {
    const end = Date.now() + ms;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async (_, w) => {
        for (let i = w; Date.now() < end; i += CONNECTIONS) {
          const res = await pool.request({
            path: '/data',
            method: 'POST',
            headers: { 'content-type': 'application/json', 'device-token': `bench-${i % DEVICES}` },
            body: bodies[i % DEVICES] as string,
          });
          await res.body.text();
          if (res.statusCode !== 200) throw new Error(`cloud-sim answered ${res.statusCode}`);
          requests++;
        }
      }),
    );
  };
  try {
    await load(1000); // warm-up
    requests = 0;
    const cpu0 = cpuSeconds(sim.pid);
    const t0 = performance.now();
    await load(seconds * 1000);
    const cpu = cpuSeconds(sim.pid) - cpu0;
    const wall = (performance.now() - t0) / 1000;
    const points = requests * POINTS_PER_REQUEST;
    console.log(
      `cloud-sim --keep-records ${keep}: ${Math.round(requests / wall)} req/s, ${Math.round(points / wall)} points/s, ` +
        `${((cpu * 1e6) / points).toFixed(2)} µs of CPU per point (${Math.round((100 * cpu) / wall)} % of a core)`,
    );
  } finally {
    await pool.close();
    await sim.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
