/**
 * The HTTP load generator: autocannon (programmatic, in this process), `POST /data` with a one-record
 * TagoIO JSON body, device tokens rotated per request. A warm-up run is discarded. Latency percentiles come
 * from an HdrHistogram fed by autocannon's `response` events (its own coordinated-omission correction is
 * off: this is a closed loop measuring capacity, and the p99 is the p99 at that load).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { newHistogram } from '../../simulators/fleet/histogram.js';

export interface HttpResult {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
}

const BODY = JSON.stringify({ variable: 'temperature', value: 21.5, unit: 'C' });

function run(
  url: string,
  connections: number,
  seconds: number,
  tokens: string[],
  body: string,
  record: boolean,
): Promise<HttpResult> {
  const h = newHistogram();
  return new Promise((resolve, reject) => {
    const instance = autocannon({
      url: `${url}/data`,
      connections,
      duration: seconds,
      timeout: 30,
      // One prepared request per token, cycled by each connection: autocannon builds each request once (a
      // `setupRequest` hook would rebuild every request, generator CPU taken from the systems measured).
      requests: tokens.map((token) => ({
        method: 'POST' as const,
        body,
        headers: { 'content-type': 'application/json', 'device-token': token },
      })),
    });
    instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => {
      if (record) h.recordValue(Math.max(1, Math.round(ms * 1000)));
    });
    instance.then(
      (res) => {
        const r = {
          reqPerSec: res['2xx'] / res.duration,
          p50Ms: h.getValueAtPercentile(50) / 1000,
          p99Ms: h.getValueAtPercentile(99) / 1000,
          non2xx: res.non2xx,
          errors: res.errors + res.timeouts,
        };
        h.destroy();
        resolve(r);
      },
      (err: unknown) => reject(err),
    );
  });
}

export interface HttpBenchOptions {
  connections: number;
  warmupSeconds: number;
  seconds: number;
  tokens: string[];
  /** The request body (default: one TagoIO record). */
  body?: string;
  /** Called when the measured run starts and when it ends (CPU and machine samples). */
  onWindow?: (edge: 'start' | 'end') => void;
}

export async function httpBench(url: string, opts: HttpBenchOptions): Promise<HttpResult> {
  const body = opts.body ?? BODY;
  await run(url, opts.connections, opts.warmupSeconds, opts.tokens, body, false);
  opts.onWindow?.('start');
  const r = await run(url, opts.connections, opts.seconds, opts.tokens, body, true);
  opts.onWindow?.('end');
  return r;
}

/**
 * `httpBench` in a fresh Node process (this module as its entry point), so the generator starts from the same
 * state for every measurement: in the full bench it used to run in the process that had just driven the MQTT
 * phases (500 MQTT.js clients, their garbage), and both the floor and the gateway measured lower and noisier
 * there (docs/performance.md, method). The window's edges come back as lines on stdout as they happen.
 */
export function httpBenchInChild(url: string, opts: HttpBenchOptions): Promise<HttpResult> {
  const { onWindow, ...rest } = opts;
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), CHILD_FLAG], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  // The options go over stdin: large bodies × many tokens can exceed an argv's size limit.
  child.stdin.end(JSON.stringify({ url, ...rest }));
  return new Promise((resolve, reject) => {
    let result: HttpResult | undefined;
    createInterface({ input: child.stdout }).on('line', (line) => {
      const msg = JSON.parse(line) as { edge?: 'start' | 'end'; result?: HttpResult };
      if (msg.edge) onWindow?.(msg.edge);
      if (msg.result) result = msg.result;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (result && code === 0) resolve(result);
      else reject(new Error(`HTTP load generator exited ${code} without a result`));
    });
  });
}

const CHILD_FLAG = '--http-bench-child';

if (process.argv[2] === CHILD_FLAG && import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const { url, ...opts } = JSON.parse(input) as HttpBenchOptions & { url: string };
  const say = (msg: unknown) => process.stdout.write(`${JSON.stringify(msg)}\n`);
  const result = await httpBench(url, { ...opts, onWindow: (edge) => say({ edge }) });
  say({ result });
}
