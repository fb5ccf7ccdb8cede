/**
 * The HTTP load generator: autocannon (programmatic, in this process), `POST /data` with a one-record
 * TagoIO JSON body, device tokens rotated per request. A warm-up run is discarded. Latency percentiles come
 * from an HdrHistogram fed by autocannon's `response` events (its own coordinated-omission correction is
 * off: this is a closed loop measuring capacity, and the p99 is the p99 at that load).
 */
import autocannon from 'autocannon';
import { histogram } from './mqtt-load.js';

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
  record: boolean,
): Promise<HttpResult> {
  const h = histogram();
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
        body: BODY,
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

export async function httpBench(
  url: string,
  opts: {
    connections: number;
    warmupSeconds: number;
    seconds: number;
    tokens: string[];
    /** Called when the measured run starts and when it ends (CPU and machine samples). */
    onWindow?: (edge: 'start' | 'end') => void;
  },
): Promise<HttpResult> {
  await run(url, opts.connections, opts.warmupSeconds, opts.tokens, false);
  opts.onWindow?.('start');
  const r = await run(url, opts.connections, opts.seconds, opts.tokens, true);
  opts.onWindow?.('end');
  return r;
}
