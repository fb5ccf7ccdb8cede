/** What every growth curve is given: options, a scratch directory, cloud-sim's URL, the log. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cpuSeconds } from '../lib/processes.js';
import { writeLoopbackConfig } from '../stack.js';

export interface GrowthContext {
  /** Bigger sizes and longer windows (`--growth-full`). */
  full: boolean;
  /** `--sizes-scale`: multiplies every default size (e.g. 0.02 while developing on a busy machine). */
  scale: number;
  dir: string;
  simUrl: string;
  log(msg: string): void;
}

export const fmt = (n: number, d = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '–';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The sizes of a curve: the defaults (plus the `--growth-full` ones) scaled, at least 1 each, without repeats (a
 * small scale can round two sizes to the same one), in increasing order.
 */
export function sizes(
  ctx: Pick<GrowthContext, 'full' | 'scale'>,
  defaults: number[],
  fullOnly: number[] = [],
): number[] {
  const scaled = [...defaults, ...(ctx.full ? fullOnly : [])].map((n) => Math.max(1, Math.round(n * ctx.scale)));
  return [...new Set(scaled)].sort((a, b) => a - b);
}

/** A fresh directory for one gateway under the run's scratch directory. */
export function subdir(ctx: GrowthContext, name: string): string {
  const d = join(ctx.dir, name);
  mkdirSync(d, { recursive: true });
  return d;
}

/** The loopback gateway config of the bench (stack.ts), forwarding to cloud-sim unthrottled. */
export function gatewayConfig(ctx: GrowthContext, dir: string, extra: Record<string, unknown>): string {
  return writeLoopbackConfig(dir, ctx.simUrl, 600_000, extra);
}

/** A process's CPU over a window: call `start()`, then `end()` for the share of one core, in %. */
export function cpuWindow(pid: number) {
  let c0 = 0;
  let t0 = 0;
  let seconds = 0;
  let wall = 0;
  return {
    start() {
      c0 = cpuSeconds(pid);
      t0 = performance.now();
    },
    end() {
      seconds = cpuSeconds(pid) - c0;
      wall = (performance.now() - t0) / 1000;
    },
    /** CPU seconds used in the window. */
    seconds: () => seconds,
    /** % of one core over the window. */
    pct: () => (wall > 0 ? (100 * seconds) / wall : Number.NaN),
  };
}

/** A device token shaped like TagoIO's (a UUID), unique per `prefix` and `i`. */
export function tokenOf(prefix: string, i: number): string {
  const hex = i.toString(16).padStart(12, '0');
  const p = Buffer.from(prefix).toString('hex').padEnd(8, '0').slice(0, 8);
  return `${p}-0000-4000-8000-${hex}`;
}
