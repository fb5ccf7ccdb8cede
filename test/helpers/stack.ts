/**
 * Test helpers: a real gateway (in-process, ephemeral ports, temporary data dir) in front of a real
 * cloud-sim, torn down when the test finishes. Nothing here mocks a module of ours.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { parseConfig } from '../../gateway/config/load.js';
import type { Config, ConfigInput } from '../../gateway/config/schema.js';
import { type RunningGateway, startGateway } from '../../gateway/gateway.js';
import { createLogger } from '../../gateway/log.js';
import { type CloudSim, type CloudSimOptions, startCloudSim } from '../../simulators/cloud-sim/index.js';

type DeepPartial<T> =
  T extends Array<infer U> ? Array<U> : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

export function merge<T>(base: T, over: unknown): T {
  if (over === undefined) return base;
  if (Array.isArray(over) || over === null || typeof over !== 'object') return over as T;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over as Record<string, unknown>)) {
    out[k] = merge((base as Record<string, unknown>)?.[k], v);
  }
  return out as T;
}

export function tempDir(prefix = 'tago-edge-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function testConfig(upstreamUrl: string, overrides: DeepPartial<ConfigInput> = {}, dir = tempDir()): Config {
  return parseConfig(
    merge(
      {
        http: { port: 0, host: '127.0.0.1' },
        mqtt: { port: 0, host: '127.0.0.1' },
        upstream: { url: upstreamUrl, batchWaitMs: 5, requestsPerMinute: 60_000, retryBaseMs: 50, retryMaxMs: 1_000 },
        store: { dir },
        log: { level: 'silent' },
      },
      overrides,
    ),
  );
}

export interface Stack {
  gw: RunningGateway;
  sim: CloudSim;
  http: string;
  mqtt: string;
}

export async function startStack(
  overrides: DeepPartial<ConfigInput> = {},
  simOptions: CloudSimOptions = {},
): Promise<Stack> {
  const sim = await startCloudSim({ port: 0, quiet: true, ...simOptions });
  onTestFinished(() => sim.close());
  const config = testConfig(sim.url, overrides);
  const gw = await startGateway(config, { log: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent') });
  onTestFinished(() => gw.close());
  return { gw, sim, http: `http://127.0.0.1:${gw.ports.http}`, mqtt: `mqtt://127.0.0.1:${gw.ports.mqtt}` };
}

/** Polls `fn` until it returns a truthy value (or throws the last error at the deadline). */
export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 20): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw lastErr instanceof Error ? lastErr : new Error(`waitFor: timed out after ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
