/**
 * Child processes of the load tests, the bench and the CLI tests: the real CLI (`bin/tago-edge.js`: gateway,
 * cloud-sim), bare floors (mosquitto, aedes, node:http), each in its own process so nothing in the
 * generator's process is measured as the system under test; readiness is the first stdout JSON line with
 * `event: "listening"` (or an open TCP port for mosquitto); stop is SIGTERM, then SIGKILL after a grace.
 * Also what the bench reads about them from /proc: RSS, CPU seconds, main-thread scheduling.
 *
 * Invariant: every process started here is killed (SIGKILL, its process group when detached) when this
 * process exits, whatever state it is in.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { procStat } from '../sampler.js';

/** The project root: the nearest parent of `from` holding tago-edge's package.json (sources and dist/ alike). */
export function projectRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'tago-edge')
      return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the tago-edge project root above ${from}`);
    dir = up;
  }
}

/** Every process started here and not yet exited, with whether it leads its own process group. */
const live = new Map<ChildProcess, boolean>();
let exitHookInstalled = false;

function kill(child: ChildProcess, detached: boolean): void {
  try {
    if (detached && child.pid) process.kill(-child.pid, 'SIGKILL');
    else child.kill('SIGKILL');
  } catch {
    // already gone
  }
}

export interface SpawnOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Own process group (killed as a group at exit): for commands that start children of their own. */
  detached?: boolean;
  /** Characters of stdout and of stderr kept for `stdout()`/`stderr()` (default 1,000,000). */
  keepOutput?: number;
}

export interface Child {
  name: string;
  child: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout JSON line that has `event: name` (seen before or after the call). */
  waitForEvent(name: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves with the exit code (null when killed by a signal). */
  exit(): Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL at once (its group when detached); resolves when the process has exited. */
  kill(): Promise<void>;
}

/** Spawns `command[0] command[1…]`, keeps its output, and reads its stdout JSON event lines. */
export function spawnProcess(name: string, command: readonly string[], opts: SpawnOptions = {}): Child {
  const [cmd, ...args] = command as [string, ...string[]];
  const detached = opts.detached ?? false;
  const child = spawn(cmd, args, {
    cwd: opts.cwd ?? projectRoot(),
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached,
  });
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const [c, d] of live) kill(c, d);
    });
  }
  live.set(child, detached);
  const limit = opts.keepOutput ?? 1_000_000;
  // Event lines kept for waitForEvent: bounded like the output, unbounded when the output is.
  const maxEvents = Number.isFinite(limit) ? 10_000 : Number.POSITIVE_INFINITY;
  let out = '';
  let err = '';
  let partial = '';
  const events: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of waiters) w();
  };
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    if (out.length < limit) out += d.slice(0, limit - out.length);
    partial += d;
    for (let nl = partial.indexOf('\n'); nl >= 0; nl = partial.indexOf('\n')) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      if (!line.startsWith('{') || !line.includes('"event"') || events.length >= maxEvents) continue;
      try {
        const obj = JSON.parse(line) as Record<string, unknown>;
        if (typeof obj.event === 'string') events.push(obj);
      } catch {
        // not JSON
      }
    }
    wake();
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    if (err.length < limit) err += d.slice(0, limit - err.length);
  });
  let exitCode: number | null | undefined;
  // Its output ends when every process holding its pipes has gone (`close`), which can be after it exits:
  // `npm start` dies of SIGTERM while the gateway it started still writes its `stopped` line.
  let outputClosed = false;
  child.once('close', () => {
    outputClosed = true;
    wake();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      live.delete(child);
      exitCode = code;
      resolve(code);
      wake();
    }),
  );
  return {
    name,
    child,
    pid: child.pid as number,
    stdout: () => out,
    stderr: () => err,
    exit: () => exited,
    stop: (graceMs = 10_000) => stopChild(child, graceMs, detached),
    async kill() {
      if (exitCode !== undefined) return;
      kill(child, detached);
      await exited;
    },
    waitForEvent(event, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find((e) => e.event === event);
          if (found) done(null, found);
          else if (outputClosed) done(new Error(`${name} exited ${exitCode} before "${event}": ${err.slice(-4_000)}`));
        };
        const timer = setTimeout(
          () => done(new Error(`${name}: no "${event}" event within ${timeoutMs} ms; stderr: ${err.slice(-4_000)}`)),
          timeoutMs,
        );
        function done(e: Error | null, v?: Record<string, unknown>): void {
          clearTimeout(timer);
          waiters.delete(check);
          if (e) reject(e);
          else resolve(v as Record<string, unknown>);
        }
        waiters.add(check);
        check();
      });
    },
  };
}
/**
 * Runs `command` to its end and resolves with its stdout; rejects naming the command, its exit code and its
 * last stderr when it exits non-zero (or is killed after `timeoutMs`).
 */
export async function runProcess(
  name: string,
  command: readonly string[],
  opts: SpawnOptions & { timeoutMs?: number } = {},
): Promise<string> {
  const p = spawnProcess(name, command, opts);
  const timer = setTimeout(() => void p.kill(), opts.timeoutMs ?? 600_000);
  const code = await p.exit();
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${name}: ${command.join(' ')} exited ${code}: ${p.stderr().slice(-4_000)}`);
  return p.stdout();
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the child has exited. */
export async function stopChild(child: ChildProcess, graceMs = 5_000, group = false): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const signal = (s: NodeJS.Signals) => {
    try {
      if (group && child.pid) process.kill(-child.pid, s);
      else child.kill(s);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** A started process and the ports of its `listening` line (`{ mqtt: port }` for mosquitto). */
export interface Proc extends Child {
  ports: Record<string, unknown>;
}

export interface NodeOptions extends SpawnOptions {
  /** Node flags before the script (e.g. `--cpu-prof`). */
  nodeFlags?: readonly string[];
  /** Runs node under another command (e.g. strace with a fault injected), whose argv ends with node's. */
  prefix?: readonly string[];
  /** How long to wait for the `listening` line (default 30 s). */
  timeoutMs?: number;
}

/** `node [flags] args…`, resolved on its `listening` line; killed if it does not come within the timeout. */
export async function startNode(name: string, args: readonly string[], opts: NodeOptions = {}): Promise<Proc> {
  const p = spawnProcess(name, [...(opts.prefix ?? []), process.execPath, ...(opts.nodeFlags ?? []), ...args], {
    keepOutput: 8_000,
    ...opts,
  });
  try {
    const line = await p.waitForEvent('listening', opts.timeoutMs ?? 30_000);
    return { ...p, ports: line };
  } catch (err) {
    await p.stop(1_000);
    throw err;
  }
}

/** The CLI of the tree at `root` (default this one): `node <root>/bin/tago-edge.js args…`, until listening. */
export function startCli(name: string, args: readonly string[], opts: NodeOptions & { root?: string } = {}) {
  const root = opts.root ?? projectRoot();
  return startNode(name, [join(root, 'bin', 'tago-edge.js'), ...args], { cwd: root, ...opts });
}

/** cloud-sim as the real CLI on an ephemeral loopback port, keeping `keepRecords` per token for GET /data. */
export function startCloudSim(keepRecords: number, opts: NodeOptions & { root?: string } = {}): Promise<Proc> {
  const args = ['cloud-sim', '--port', '0', '--host', '127.0.0.1', '--keep-records', String(keepRecords)];
  return startCli('cloud-sim', args, opts);
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

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
export async function waitPort(port: number, timeoutMs: number): Promise<void> {
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

/** Bare mosquitto 2 on an ephemeral port (it refuses anonymous clients unless a listener allows them). */
export async function startMosquitto(dir: string): Promise<Proc> {
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'log_dest none', ''].join('\n'),
  );
  const p = spawnProcess('mosquitto', [MOSQUITTO, '-c', conf], { keepOutput: 8_000 });
  await waitPort(port, 10_000);
  return { ...p, ports: { mqtt: port } };
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
