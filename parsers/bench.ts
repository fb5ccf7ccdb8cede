/**
 * Parser sandbox benchmark: throughput and p99 latency of the hex-sensor example, one message per isolate
 * call versus 100 concurrent messages batched into one call, plus the V8 heap each loaded parser holds.
 *
 *   npx tsc -p tsconfig.build.json && node dist/parsers/bench.js [--messages N]
 *
 * Method: one ParserHost (timeout 1000 ms, memory 64 MB), the same 5-byte frame for every message, a
 * warm-up of 1,000 messages discarded per mode. "single" awaits each run before the next, so every message
 * crosses into the isolate alone; "batched" issues rounds of 100 concurrent runs, which the host coalesces
 * into one crossing per round. Latency is from `run()` to its settling. Closed loop: it measures the
 * sandbox's cost, not the gateway under open-model load (that is loadtests/).
 */
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { exitWhenSettled } from './exit-when-settled.js';
import type { ParserDevice } from './parser-host.js';
import { createParserHost } from './sandbox/index.js';

const CONCURRENCY = 100;
const WARMUP = 1_000;
const messagesArg = process.argv.indexOf('--messages');
const MESSAGES = messagesArg > 0 ? Number(process.argv[messagesArg + 1]) : 20_000;

const example = (name: string) => fileURLToPath(new URL(`../../parsers/examples/${name}`, import.meta.url));
const device: ParserDevice = { id: 'bench', name: 'bench', tags: [], params: [] };
const input = () => ({ payload: [{ variable: 'payload', value: '0e1000eb37' }], rawPayload: '0e1000eb37' });

interface Result {
  perSecond: number;
  p50: number;
  p99: number;
}

async function single(host: ReturnType<typeof createParserHost>, file: string, n: number): Promise<Result> {
  const lat: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    await host.run(file, device, input());
    lat.push(performance.now() - s);
  }
  return summarise(lat, performance.now() - t0);
}

async function batched(host: ReturnType<typeof createParserHost>, file: string, n: number): Promise<Result> {
  const lat: number[] = [];
  const t0 = performance.now();
  for (let done = 0; done < n; done += CONCURRENCY) {
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        const s = performance.now();
        await host.run(file, device, input());
        lat.push(performance.now() - s);
      }),
    );
  }
  return summarise(lat, performance.now() - t0);
}

function summarise(lat: number[], elapsedMs: number): Result {
  lat.sort((a, b) => a - b);
  const at = (q: number) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))] ?? 0;
  return { perSecond: (lat.length / elapsedMs) * 1000, p50: at(0.5), p99: at(0.99) };
}

const fmt = (r: Result) =>
  `${Math.round(r.perSecond).toLocaleString('en-US').padStart(9)} msg/s   p50 ${r.p50.toFixed(3)} ms   p99 ${r.p99.toFixed(3)} ms`;

async function main(): Promise<void> {
  const cpu = cpus();
  console.log(
    `machine: ${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
  );
  console.log(`runtime: Node ${process.version}, isolated-vm 5, ${process.platform}/${process.arch}`);
  console.log(
    `method: parsers/examples/hex-sensor.js, ${MESSAGES} messages per mode after ${WARMUP} warm-up, closed loop`,
  );

  const host = createParserHost({ timeoutMs: 1_000, memoryMb: 64 });
  const hex = example('hex-sensor.js');
  await single(host, hex, WARMUP);
  const one = await single(host, hex, MESSAGES);
  await batched(host, hex, WARMUP);
  const many = await batched(host, hex, MESSAGES);
  console.log(`single  (1 message per call):      ${fmt(one)}`);
  console.log(`batched (${CONCURRENCY} concurrent per call):  ${fmt(many)}`);
  console.log(`ratio batched/single throughput: ${(many.perSecond / one.perSecond).toFixed(1)}x`);

  // Load the other examples so the heap figure is per parser, not for one special case.
  for (const name of ['hex-sensor.ts', 'fahrenheit-to-celsius.js', 'key-value-text.js']) {
    await host.run(example(name), device, {
      payload: [{ variable: 'payload', value: name === 'key-value-text.js' ? 'a=1' : '0e1000eb37' }],
      rawPayload: '',
    });
  }
  console.log('isolate heap per loaded parser (getHeapStatistics, memory limit 64 MB):');
  for (const s of await host.stats()) {
    const mb = (b: number) => (b / 2 ** 20).toFixed(2);
    const name = s.file.split('/').pop();
    console.log(`  ${name?.padEnd(26)} used ${mb(s.usedHeapBytes)} MB   total ${mb(s.totalHeapBytes)} MB`);
  }
  await host.close();
}

await main();
// Not a natural exit: isolated-vm has run in this process (cli/exit.ts).
exitWhenSettled(0);
