/**
 * The local stack the gate runs against when no `--target-*` is given: the cloud simulator and the gateway as
 * two separate processes (the real CLI, `bin/tago-edge.js`), on ephemeral ports, with a temporary data dir.
 * Separate processes so the gateway's CPU and memory are its own, and nothing in this process (the load
 * generator takes about a core) is measured as the gateway's.
 *
 * Invariant: every process started here is killed when the stack stops or this process exits.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Proc, startCli, startCloudSim } from './lib/processes.js';

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
  let sim: Proc | undefined;
  try {
    // The simulator does not rate-limit here: the gateway paces itself to `requestsPerMinute`, which is what
    // the gate measures; a simulator window misaligned with the gateway's would only add noise.
    sim = await startCloudSim(100, { timeoutMs });
    const simUrl = String(sim.ports.url);
    const configFile = writeLoopbackConfig(dir, simUrl, opts.requestsPerMinute);
    const gw = await startCli('gateway', ['gateway', '--config', configFile], { timeoutMs });
    const cloudSim = sim;
    return {
      simUrl,
      http: `http://127.0.0.1:${gw.ports.http}`,
      mqtt: `mqtt://127.0.0.1:${gw.ports.mqtt}`,
      gatewayPid: gw.pid,
      dataDir: dir,
      async stop() {
        await gw.stop(5_000);
        await cloudSim.stop(5_000);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await sim?.stop(1_000);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
