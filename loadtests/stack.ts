/**
 * The local stack the gate runs against when no `--target-*` is given: the cloud simulator and the gateway as
 * two separate processes (the real CLI, `bin/tago-edge.js`), on ephemeral ports, with a temporary data dir.
 * Separate processes so the gateway's CPU and memory are its own, and nothing in this process (the load
 * generator takes about a core) is measured as the gateway's.
 *
 * Invariant: every process started here is killed when the stack stops or this process exits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface LocalStack {
  /** cloud-sim base URL (its `/_sim/*` control API included). */
  simUrl: string;
  http: string;
  mqtt: string;
  gatewayPid: number;
  dataDir: string;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** Gateway `upstream.requestsPerMinute` (TagoIO plan limit; 15,000 = Scale). */
  requestsPerMinute: number;
  /** How long to wait for each `listening` line. */
  startTimeoutMs?: number;
}

/** The project root: the nearest parent holding package.json (works from sources and from dist/). */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'tago-edge')
      return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('loadtest: cannot find the tago-edge project root');
    dir = up;
  }
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function killAll(): void {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', killAll);
  }
  const bin = join(projectRoot(), 'bin', 'tago-edge.js');
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Resolves with the first stdout JSON line whose `event` is `listening`; keeps draining output after. */
function waitListening(child: ChildProcess, name: string, timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let err = '';
    let done = false;
    const finish = (e: Error | undefined, v?: Record<string, unknown>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (e) reject(e);
      else resolve(v!);
    };
    const timer = setTimeout(
      () => finish(new Error(`${name}: no "listening" line within ${timeoutMs} ms: ${err}`)),
      timeoutMs,
    );
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      if (err.length < 4000) err += d;
    });
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      if (done) return;
      buf += d;
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
        if (!line.startsWith('{')) continue;
        try {
          const obj = JSON.parse(line) as Record<string, unknown>;
          if (obj.event === 'listening') return finish(undefined, obj);
        } catch {
          // not JSON: ignore
        }
      }
    });
    child.once('exit', (code) => finish(new Error(`${name} exited ${code} before listening: ${err}`)));
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the child has exited. */
export async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Sections merged over the loopback config; `store` and `mqtt` merge into theirs, the rest replaces. */
export interface LoopbackConfigExtra {
  store?: Record<string, unknown>;
  mqtt?: Record<string, unknown>;
  [section: string]: unknown;
}

/**
 * Writes `<dir>/gateway.json`: a gateway on loopback (ephemeral ports, store in `<dir>/data`, warn-level
 * logs) forwarding to `upstreamUrl` at `requestsPerMinute`, with `extra` merged over it. Returns the path.
 */
export function writeLoopbackConfig(
  dir: string,
  upstreamUrl: string,
  requestsPerMinute: number,
  extra: LoopbackConfigExtra = {},
): string {
  const { store, mqtt, ...rest } = extra;
  const file = join(dir, 'gateway.json');
  writeFileSync(
    file,
    JSON.stringify({
      http: { port: 0, host: '127.0.0.1' },
      mqtt: { port: 0, host: '127.0.0.1', ...mqtt },
      upstream: { url: upstreamUrl, requestsPerMinute },
      store: { dir: join(dir, 'data'), ...store },
      log: { level: 'warn' },
      ...rest,
    }),
  );
  return file;
}

export async function startLocalStack(opts: StackOptions): Promise<LocalStack> {
  const timeoutMs = opts.startTimeoutMs ?? 20_000;
  const dir = mkdtempSync(join(tmpdir(), 'tago-edge-loadtest-'));
  // The simulator does not rate-limit here: the gateway paces itself to `requestsPerMinute`, which is what
  // the gate measures; a simulator window misaligned with the gateway's would only add noise.
  const sim = spawnCli(['cloud-sim', '--port', '0', '--host', '127.0.0.1', '--keep-records', '100']);
  let gw: ChildProcess | undefined;
  try {
    const simLine = await waitListening(sim, 'cloud-sim', timeoutMs);
    const simUrl = String(simLine.url);
    const configFile = writeLoopbackConfig(dir, simUrl, opts.requestsPerMinute);
    gw = spawnCli(['gateway', '--config', configFile]);
    const gwLine = await waitListening(gw, 'gateway', timeoutMs);
    const gateway = gw;
    return {
      simUrl,
      http: `http://127.0.0.1:${gwLine.http}`,
      mqtt: `mqtt://127.0.0.1:${gwLine.mqtt}`,
      gatewayPid: gateway.pid!,
      dataDir: dir,
      async stop() {
        await stopChild(gateway);
        await stopChild(sim);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    if (gw) await stopChild(gw, 1_000);
    await stopChild(sim, 1_000);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
