/**
 * The processes of the growth curves: the gateway (the real CLI) and the raw-socket MQTT generator workers,
 * each started through `bash -c 'ulimit -n N && exec node …'` so that tens of thousands of sockets fit under
 * its open-file limit (raising the hard limit needs root; the soft one is raised as far as the hard one
 * otherwise). Every process started here is killed when this process exits (loadtests/lib/processes.ts and the set below).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type HttpResult, httpBenchInChild } from '../bench/http-load.js';
import { type Proc, projectRoot, startNode, stopChild } from '../lib/processes.js';
import { cpuWindow } from './context.js';

import type { WorkerJob } from './mqtt-worker.js';

export const FD_LIMIT = 200_000;

/**
 * The open-file limit the gateway and generators get: FD_LIMIT, or the hard limit this process passes on to
 * them when that is lower (a container without CAP_SYS_RESOURCE cannot raise it, even as root).
 */
export function childFdLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const hard = line?.split(/\s+/)[4];
  return hard === undefined || hard === 'unlimited' ? FD_LIMIT : Math.min(FD_LIMIT, Number(hard));
}

/** Files the gateway keeps open besides its sockets (store, logs, listeners), with room to spare. */
const FD_RESERVE = 1_000;

/**
 * `steps` with the sizes over the gateway's open-file limit replaced by one size that fits with FD_RESERVE to
 * spare (rounded down to a thousand), and a note saying so (undefined when none is over). A size just under
 * the limit is kept: it is measured, and what did not fit shows as failed connections.
 */
export function fitFdLimit(steps: number[]): { steps: number[]; note?: string } {
  const limit = childFdLimit();
  const fits = Math.floor((limit - FD_RESERVE) / 1_000) * 1_000;
  const over = steps.filter((n) => n > limit);
  if (over.length === 0) return { steps };
  const kept = [...new Set([...steps.filter((n) => n <= limit), fits])].sort((a, b) => a - b);
  return {
    steps: kept,
    note: `The open-file hard limit here is ${limit.toLocaleString('en-US')} (ulimit -Hn), so ${over.map((n) => n.toLocaleString('en-US')).join(', ')} did not fit in the gateway; measured at ${fits.toLocaleString('en-US')} instead.`,
  };
}

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

/**
 * Starts a gateway on `configFile`, runs `use` with it and the seconds from spawn to its `listening` line,
 * and stops it however `use` ends (SIGTERM, then SIGKILL after `stopGraceMs`).
 */
export async function withGateway<T>(
  configFile: string,
  use: (gw: Proc, startS: number) => Promise<T>,
  o: { startTimeoutMs?: number; stopGraceMs?: number } = {},
): Promise<T> {
  const t0 = performance.now();
  const gw = await spawnGateway(configFile, o.startTimeoutMs);
  const startS = (performance.now() - t0) / 1000;
  try {
    return await use(gw, startS);
  } finally {
    await gw.stop(o.stopGraceMs ?? 30_000);
  }
}

/**
 * HTTP POST /data load on `gw` (autocannon in a child process: 50 connections, 1 s warm-up, then `seconds`),
 * with the gateway's CPU per 2xx answer over the measured window.
 */
export async function postLoad(
  gw: Proc,
  o: { seconds: number; tokens: string[]; body: string },
): Promise<HttpResult & { usPerReq: number }> {
  const cpu = cpuWindow(gw.pid);
  const r = await httpBenchInChild(`http://127.0.0.1:${gw.ports.http}`, {
    connections: 50,
    warmupSeconds: 1,
    ...o,
    onWindow: (edge) => (edge === 'start' ? cpu.start() : cpu.end()),
  });
  return { ...r, usPerReq: (cpu.seconds() * 1e6) / (r.reqPerSec * o.seconds) };
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
