/**
 * HTTP POST /data load for the growth curves: autocannon in a fresh child process (as the bench's
 * http-load.ts, but with the body and the tokens given), a warm-up run discarded, then the measured run; the
 * window's edges come back on stdout as they happen so the caller samples the gateway's CPU over exactly it.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { newHistogram as histogram } from '../../simulators/fleet/histogram.js';

export interface HttpLoad {
  url: string;
  connections: number;
  warmupSeconds: number;
  seconds: number;
  tokens: string[];
  body: string;
}

export interface HttpLoadResult {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
}

function run(load: HttpLoad, seconds: number, record: boolean): Promise<HttpLoadResult> {
  const h = histogram();
  return new Promise((resolve, reject) => {
    const instance = autocannon({
      url: `${load.url}/data`,
      connections: load.connections,
      duration: seconds,
      timeout: 30,
      requests: load.tokens.map((token) => ({
        method: 'POST' as const,
        body: load.body,
        headers: { 'content-type': 'application/json', 'device-token': token },
      })),
    });
    instance.on('response', (_c: unknown, _s: number, _b: number, ms: number) => {
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

export function httpLoadInChild(load: HttpLoad, onWindow: (edge: 'start' | 'end') => void): Promise<HttpLoadResult> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), CHILD_FLAG], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  // The load (bodies of 100 records × 100 tokens) goes over stdin: it can exceed an argv's size limit.
  child.stdin.end(JSON.stringify(load));
  return new Promise((resolve, reject) => {
    let result: HttpLoadResult | undefined;
    createInterface({ input: child.stdout }).on('line', (line) => {
      const msg = JSON.parse(line) as { edge?: 'start' | 'end'; result?: HttpLoadResult };
      if (msg.edge) onWindow(msg.edge);
      if (msg.result) result = msg.result;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (result && code === 0) resolve(result);
      else reject(new Error(`HTTP load generator exited ${code} without a result`));
    });
  });
}

const CHILD_FLAG = '--growth-http-child';

if (process.argv[2] === CHILD_FLAG && import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const load = JSON.parse(input) as HttpLoad;
  const say = (msg: unknown) => process.stdout.write(`${JSON.stringify(msg)}\n`);
  await run(load, load.warmupSeconds, false);
  say({ edge: 'start' });
  const result = await run(load, load.seconds, true);
  say({ edge: 'end' });
  say({ result });
}
