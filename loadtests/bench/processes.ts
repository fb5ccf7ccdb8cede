/**
 * The processes `run.ts` measures: bare mosquitto, bare aedes, bare node:http, cloud-sim and the real gateway
 * CLI, each in its own process on an ephemeral port so that nothing in the generator's process is measured as
 * the system under test. Every process started here is killed when this process exits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';

import { procStat } from '../sampler.js';
import { projectRoot, stopChild } from '../stack.js';

export { projectRoot };

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  /** The `listening` JSON line (ports), or `{ mqtt: port }` for mosquitto. */
  ports: Record<string, unknown>;
  stderr(): string;
  stop(graceMs?: number): Promise<void>;
}

function track(child: ChildProcess): { stderr(): string; stop(graceMs?: number): Promise<void> } {
  live.add(child);
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    if (err.length < 8_000) err += d;
  });
  child.once('exit', () => live.delete(child));
  return {
    stderr: () => err,
    stop: (graceMs = 10_000) => stopChild(child, graceMs),
  };
}

/**
 * Spawns `node args…` and resolves on its first stdout JSON line with `event: "listening"`. `prefix` runs
 * node under another command (e.g. strace with a fault injected), whose argv ends with node's.
 */
export function spawnNode(
  name: string,
  args: string[],
  nodeFlags: string[] = [],
  timeoutMs = 30_000,
  prefix: string[] = [],
): Promise<Proc> {
  const argv = [process.execPath, ...nodeFlags, ...args];
  const [command, ...rest] = [...prefix, ...argv] as [string, ...string[]];
  const child = spawn(command, rest, {
    cwd: projectRoot(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const t = track(child);
  return new Promise((resolve, reject) => {
    let buf = '';
    let done = false;
    const timer = setTimeout(
      () => finish(new Error(`${name}: not listening within ${timeoutMs} ms: ${t.stderr()}`)),
      timeoutMs,
    );
    function finish(e: Error | null, line?: Record<string, unknown>): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (e) {
        void t.stop(1_000);
        reject(e);
      } else resolve({ name, child, pid: child.pid as number, ports: line ?? {}, ...t });
    }
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      if (done) return; // keep draining so the child never blocks on a full pipe
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        try {
          const obj = JSON.parse(line) as Record<string, unknown>;
          if (obj.event === 'listening') return finish(null, obj);
        } catch {
          // not JSON
        }
      }
    });
    child.once('exit', (code) => finish(new Error(`${name} exited ${code} before listening: ${t.stderr()}`)));
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

async function waitPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = createConnection({ port, host: '127.0.0.1' });
      s.once('connect', () => {
        s.destroy();
        r(true);
      });
      s.once('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const MOSQUITTO = '/usr/sbin/mosquitto';

/** mosquitto 2 refuses anonymous clients unless a listener and `allow_anonymous` are configured. */
export async function startMosquitto(dir: string): Promise<Proc> {
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'log_dest none', ''].join('\n'),
  );
  const child = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  const t = track(child);
  await waitPort(port, 10_000);
  return { name: 'mosquitto', child, pid: child.pid as number, ports: { mqtt: port }, ...t };
}

/** cloud-sim as the real CLI on an ephemeral loopback port, keeping `keepRecords` per token for GET /data. */
export function spawnCloudSim(keepRecords: number): Promise<Proc> {
  return spawnNode('cloud-sim', [
    'bin/tago-edge.js',
    'cloud-sim',
    '--port',
    '0',
    '--host',
    '127.0.0.1',
    '--keep-records',
    String(keepRecords),
  ]);
}

/** Resident set size of a process, in MB (Linux /proc). */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** Busy and total jiffies of the whole machine so far (Linux /proc/stat), for the idle share of a window. */
export function machineJiffies(): { busy: number; total: number } {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

/**
 * A process's main thread so far (Linux /proc/PID/task/PID/schedstat): nanoseconds on a CPU and nanoseconds
 * runnable but waiting for one. NaN when the file is missing (no schedstats in this kernel).
 */
export function mainThreadSched(pid: number): { runNs: number; waitNs: number } {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
    return { runNs: run ?? Number.NaN, waitNs: wait ?? Number.NaN };
  } catch {
    return { runNs: Number.NaN, waitNs: Number.NaN };
  }
}

/** CPU time (user + system) a process has used so far, in seconds (Linux /proc). */
export function cpuSeconds(pid: number): number {
  return procStat(pid)?.cpuSeconds ?? Number.NaN;
}
