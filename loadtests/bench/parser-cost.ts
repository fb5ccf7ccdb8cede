/**
 * What a payload parser costs on the HTTP ingest path: the same gateway process, two devices, one with
 * the example key=value parser (text/plain bodies) and one without (JSON bodies, same records), each
 * driven by autocannon for the same time at the same concurrency. Prints requests/s and p99 for both and
 * the ratio. Run: `npx tsc -p tsconfig.build.json && node dist/loadtests/bench/parser-cost.js [seconds]`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { startCloudSim } from '../../simulators/cloud-sim/index.js';
import { projectRoot, startCli } from '../lib/processes.js';
import { writeLoopbackConfig } from '../stack.js';

const seconds = Number(process.argv[2] ?? 10);
const connections = 50;

async function main(): Promise<void> {
  const root = projectRoot();
  const sim = await startCloudSim({ port: 0, quiet: true });
  const dir = mkdtempSync(join(tmpdir(), 'tago-edge-parser-cost-'));
  const config = writeLoopbackConfig(dir, sim.url, 600_000, {
    devices: [
      { name: 'parsed', token: 'tok-parsed', parser: join(root, 'parsers/examples/key-value-text.js') },
      { name: 'plain', token: 'tok-plain' },
    ],
  });
  const gw = await startCli('gateway', ['gateway', '--config', config]);
  const port = Number(gw.ports.http);
  const url = `http://127.0.0.1:${port}/data`;
  const run = (headers: Record<string, string>, body: string) =>
    autocannon({ url, method: 'POST', connections, duration: seconds, headers, body });

  const text = 'temperature=21.5,humidity=40,pressure=1013';
  const json = JSON.stringify([
    { variable: 'temperature', value: 21.5 },
    { variable: 'humidity', value: 40 },
    { variable: 'pressure', value: 1013 },
  ]);
  // Warm-up: compile the parser, fill caches.
  await autocannon({
    url,
    method: 'POST',
    connections: 10,
    duration: 2,
    headers: { 'content-type': 'text/plain', 'device-token': 'tok-parsed' },
    body: text,
  });
  // Alternate A/B/A/B so drift on a shared machine hits both sides alike; report the better of each.
  const runPlain = () => run({ 'content-type': 'application/json', 'device-token': 'tok-plain' }, json);
  const runParsed = () => run({ 'content-type': 'text/plain', 'device-token': 'tok-parsed' }, text);
  const p1 = await runPlain();
  const q1 = await runParsed();
  const p2 = await runPlain();
  const q2 = await runParsed();
  const best = (a: typeof p1, b: typeof p1) => (a.requests.average >= b.requests.average ? a : b);
  const plain = best(p1, p2);
  const parsed = best(q1, q2);
  const line = (name: string, r: Awaited<ReturnType<typeof autocannon>>) =>
    `${name.padEnd(18)} ${r.requests.average.toFixed(0).padStart(7)} req/s   p99 ${String(r.latency.p99).padStart(4)} ms   non-2xx ${r.non2xx}   errors ${r.errors}`;
  console.log(`parser cost on HTTP POST /data — ${connections} connections, ${seconds} s each, same gateway process`);
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}`);
  console.log(line('without parser', plain));
  console.log(line('with parser', parsed));
  console.log(`ratio with/without: ${(parsed.requests.average / plain.requests.average).toFixed(2)}`);
  await gw.stop();
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
