/**
 * Entry point of a fleet worker process (forked by workers.ts from the compiled dist/). Runs one shard with
 * `runLocalFleet`, starting its schedule at the t0 the parent sends so all shards share one clock origin.
 */
import { runLocalFleet } from './fleet.js';
import { resolveOptions } from './options.js';
import type { FromWorker, ToWorker } from './worker-protocol.js';

const send = (m: FromWorker): void => {
  process.send?.(m);
};

const abort = new AbortController();
let resolveGo: ((t0: number) => void) | undefined;
const go = new Promise<number>((r) => {
  resolveGo = r;
});

process.on('message', (m: ToWorker) => {
  if (m.type === 'run') {
    run(m.options).catch((err: Error) => {
      send({ type: 'error', message: err.message });
      process.exitCode = 1;
    });
  } else if (m.type === 'go') {
    resolveGo?.(m.t0);
  } else if (m.type === 'stop') {
    abort.abort();
    resolveGo?.(performance.timeOrigin + performance.now());
  }
});
// The parent going away (SIGINT to the group, crash) stops this shard too.
process.on('disconnect', () => abort.abort());
process.on('SIGINT', () => {
  // The parent decides: it sends `stop` and waits for our summary.
});

async function run(options: Parameters<typeof resolveOptions>[0]): Promise<void> {
  const o = resolveOptions(options);
  const summary = await runLocalFleet(o, {
    signal: abort.signal,
    onProgress: (progress) => send({ type: 'progress', progress }),
    startAt: () => {
      send({ type: 'ready' });
      return go;
    },
  });
  send({ type: 'summary', summary });
  process.disconnect?.();
}
