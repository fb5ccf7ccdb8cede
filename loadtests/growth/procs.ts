/**
 * The processes of the growth curves: the gateway (the real CLI) and the raw-socket MQTT generator workers,
 * each started through `bash -c 'ulimit -n N && exec node …'` so that tens of thousands of sockets fit under
 * its open-file limit (raising the hard limit needs root; the soft one is raised as far as the hard one
 * otherwise). Every process started here is killed when this process exits (loadtests/lib/processes.ts and the set below).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type Proc, projectRoot, startNode, stopChild } from '../lib/processes.js';

import type { WorkerJob } from './mqtt-worker.js';

export const FD_LIMIT = 200_000;

function ulimitPrefix(fds: number): string[] {
  // "$0" "$@": the node command line that follows, run in place of the shell.
  return ['bash', '-c', `ulimit -n ${fds} 2>/dev/null || ulimit -n $(ulimit -Hn); exec "$0" "$@"`];
}

export function spawnGateway(configFile: string, timeoutMs = 120_000): Promise<Proc> {
  return startNode('gateway', ['bin/tago-edge.js', 'gateway', '--config', configFile], {
    timeoutMs,
    prefix: ulimitPrefix(FD_LIMIT),
  });
}

export interface Worker {
  child: ChildProcess;
  /** Resolves with the next JSON line whose `event` is `event`. */
  next(event: string): Promise<Record<string, unknown>>;
  send(line: string): void;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export function startWorker(job: WorkerJob): Worker {
  const entry = fileURLToPath(new URL('./mqtt-worker.js', import.meta.url));
  const child = spawn('bash', [...ulimitPrefix(FD_LIMIT).slice(1), process.execPath, entry, JSON.stringify(job)], {
    cwd: projectRoot(),
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<{ event: string; resolve: (v: Record<string, unknown>) => void }> = [];
  let buf = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const obj = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
      buf = buf.slice(nl + 1);
      const w = waiters.findIndex((x) => x.event === obj.event);
      if (w >= 0) waiters.splice(w, 1)[0]?.resolve(obj);
      else lines.push(obj);
    }
  });
  return {
    child,
    next(event) {
      const i = lines.findIndex((l) => l.event === event);
      if (i >= 0) return Promise.resolve(lines.splice(i, 1)[0] as Record<string, unknown>);
      return new Promise((resolve, reject) => {
        waiters.push({ event, resolve });
        child.once('exit', (code) => reject(new Error(`generator worker exited ${code} before "${event}"`)));
      });
    },
    send: (line) => child.stdin?.write(`${line}\n`),
    stop: () => stopChild(child, 2_000),
  };
}

/** Splits `count` devices from `first` into jobs of at most `perWorker`, each with its own source addresses. */
export function splitJobs(
  base: Omit<WorkerJob, 'first' | 'count' | 'addresses'>,
  first: number,
  count: number,
  perWorker: number,
  addressFor: (worker: number) => string[],
): WorkerJob[] {
  const jobs: WorkerJob[] = [];
  for (let f = first, w = 0; f < first + count; f += perWorker, w++) {
    jobs.push({ ...base, first: f, count: Math.min(perWorker, first + count - f), addresses: addressFor(w) });
  }
  return jobs;
}
