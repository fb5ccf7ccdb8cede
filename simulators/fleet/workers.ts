/**
 * `--workers N`: shard devices over N child processes (node:child_process `fork` of the compiled worker),
 * start every shard's schedule at one shared t0 once all have connected, and merge their summaries
 * (counts summed, HdrHistograms added, ack ranges united). Progress is the sum of each worker's latest.
 */
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { realClock } from './clock.js';
import type { ResolvedOptions } from './options.js';
import { mergeSummaries } from './summary.js';
import type { FleetHooks, FleetOptions, FleetSummary, Progress } from './types.js';
import type { FromWorker, ToWorker } from './worker-protocol.js';

/** The compiled worker: next to this file in dist/, or dist/ of the project when running from sources. */
export function workerPath(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return join(dirname(here), 'worker.js');
  let dir = dirname(here);
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'dist', 'simulators', 'fleet', 'worker.js');
}

/** Split `devices` into `n` contiguous shards as even as possible. */
export function shards(devices: number, n: number): Array<{ first: number; count: number }> {
  const out: Array<{ first: number; count: number }> = [];
  let first = 0;
  for (let i = 0; i < n; i++) {
    const count = Math.floor(devices / n) + (i < devices % n ? 1 : 0);
    out.push({ first, count });
    first += count;
  }
  return out.filter((s) => s.count > 0);
}

export async function runWorkers(
  opts: FleetOptions,
  o: ResolvedOptions,
  hooks: FleetHooks = {},
): Promise<FleetSummary> {
  const path = workerPath();
  if (!existsSync(path)) throw new Error(`--workers needs the compiled worker ${path}: run \`npm run build\` first`);
  const parts = shards(o.devices, o.workers);
  const latest = new Map<number, Progress>();
  const summaries: FleetSummary[] = [];
  let ready = 0;
  let started = false;
  const children = parts.map((shard, i) => {
    const child = fork(path, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const options: FleetOptions = {
      ...opts,
      workers: 1,
      shard,
      ...(o.ca !== undefined ? { ca: o.ca } : {}),
    };
    child.send({ type: 'run', options } satisfies ToWorker);
    return { child, i };
  });
  const sendAll = (m: ToWorker) => {
    for (const { child } of children) if (child.connected) child.send(m);
  };
  const onAbort = () => sendAll({ type: 'stop' });
  hooks.signal?.addEventListener('abort', onAbort, { once: true });
  if (hooks.signal?.aborted) onAbort();

  const progressTimer = setInterval(() => {
    if (latest.size === 0) return;
    const sum: Progress = {
      elapsedMs: 0,
      scheduled: 0,
      sent: 0,
      acked: 0,
      errors: 0,
      inFlight: 0,
      queued: 0,
      connected: 0,
      ackRatePerSec: 0,
    };
    for (const p of latest.values()) {
      sum.elapsedMs = Math.max(sum.elapsedMs, p.elapsedMs);
      for (const k of [
        'scheduled',
        'sent',
        'acked',
        'errors',
        'inFlight',
        'queued',
        'connected',
        'ackRatePerSec',
      ] as const)
        sum[k] += p[k];
    }
    hooks.onProgress?.(sum);
  }, o.progressIntervalMs);

  try {
    await Promise.all(
      children.map(
        ({ child, i }) =>
          new Promise<void>((resolve, reject) => {
            let done = false;
            child.on('message', (m: FromWorker) => {
              if (m.type === 'ready') {
                if (++ready === children.length && !started) {
                  started = true;
                  // One shared origin, a little ahead so every worker receives it before it passes.
                  sendAll({ type: 'go', t0: realClock.now() + 100 });
                }
              } else if (m.type === 'progress') latest.set(i, m.progress);
              else if (m.type === 'summary') {
                summaries.push(m.summary);
                done = true;
              } else if (m.type === 'error') reject(new Error(`worker ${i}: ${m.message}`));
            });
            child.on('exit', (code) => {
              if (done) resolve();
              else reject(new Error(`worker ${i} exited (code ${code}) without a summary`));
            });
          }),
      ),
    );
  } finally {
    clearInterval(progressTimer);
    hooks.signal?.removeEventListener('abort', onAbort);
    for (const { child } of children) if (child.exitCode === null) child.kill();
  }
  return mergeSummaries(summaries, o);
}
