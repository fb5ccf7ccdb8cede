/**
 * What every bench phase is given: the options (parsed once from argv by run.ts), a temporary directory,
 * the tree whose gateway, cloud-sim and floors are measured (this one, or a baseline checked out at another
 * git ref), a cloud-sim to forward to, and a gateway shared by the phases that measure one already running.
 * Also the helpers the phases share: the gateway's config, settling its queue between measurements, and the
 * CPU/scheduling meter of a measured window.
 */
import { join } from 'node:path';
import { request } from 'undici';
import type { FixedMessage } from '../../simulators/fleet/fixed-load.js';
import type { Flags } from '../lib/args.js';
import { cpuSeconds, machineJiffies, mainThreadSched, type Proc, startCloudSim, startNode } from '../lib/processes.js';
import { writeLoopbackConfig } from '../stack.js';
import { fmt, log, type Row } from './results.js';

export const BENCH_FLAGS = {
  quick: { kind: 'boolean', help: '1 s warm-up + 4 s per measurement (unless --warmup/--duration say otherwise)' },
  duration: { kind: 'number', min: 0.1, help: 'measured seconds per measurement (default 10; 4 with --quick)' },
  warmup: { kind: 'number', min: 0, help: 'warm-up seconds discarded before each (default 2; 1 with --quick)' },
  only: { kind: 'list', default: [] as string[], help: 'phases to run (default all)' },
  conns: { kind: 'numbers', default: [50, 500], min: 1, help: 'mqtt: connections per run (cluster: the first)' },
  payloads: {
    kind: 'list',
    default: ['json1', 'frame', 'json10'],
    choices: ['json1', 'frame', 'json10'],
    help: 'mqtt: payloads',
  },
  window: {
    kind: 'number',
    default: 10,
    min: 1,
    integer: true,
    help: 'mqtt: QoS 1 publishes outstanding per connection',
  },
  'drain-points': { kind: 'number', default: 1_000_000, min: 1, integer: true, help: 'drain: backlog points' },
  'soak-minutes': {
    kind: 'number',
    default: 1,
    min: 0,
    help: 'memory: minutes at --rate after the idle figure (0: none)',
  },
  'idle-conns': { kind: 'number', default: 5_000, min: 1, integer: true, help: 'memory: idle MQTT connections' },
  rate: { kind: 'number', default: 5_000, min: 1, help: 'open, memory: open-model messages/s' },
  // 600,000/min lets forwarding run as fast as it can, competing with ingest for the cores; --rpm 15000 is
  // TagoIO's largest plan (measured: no difference in the ingest figures, docs/performance.md).
  rpm: { kind: 'number', default: 600_000, min: 1, help: "gateway's upstream.requestsPerMinute" },
  'group-commit-ms': {
    kind: 'number',
    default: 2,
    min: 0,
    help: "gateway's store.groupCommitMs (A/B runs of the commit schedule)",
  },
  nodelay: { kind: 'boolean', help: "TCP_NODELAY on the MQTT generator's sockets, for every system alike" },
  'gateway-node-flags': { kind: 'string', default: '', help: 'Node flags for the gateway process, space-separated' },
  repeat: {
    kind: 'number',
    default: 1,
    min: 1,
    integer: true,
    help: 'mqtt, http, cluster: runs, floors and gateway alternating; verdicts and ratios on the median',
  },
  'sizes-scale': {
    kind: 'number',
    default: 1,
    min: 0.0001,
    help: "growth: multiplies every curve's sizes (0.02 for a smoke run)",
  },
  'growth-curves': {
    kind: 'list',
    default: ['connections', 'storm', 'registry', 'parsers', 'backlog', 'points'],
    choices: ['connections', 'storm', 'registry', 'parsers', 'backlog', 'points'],
    help: 'growth: curves to run, in this order',
  },
  'growth-full': { kind: 'boolean', help: 'growth: the bigger sizes and longer windows too' },
  'growth-html': {
    kind: 'string',
    help: "growth: write the HTML page here (default: a new file in the OS's temp dir)",
  },
  profile: { kind: 'boolean', help: "the gateway's CPU profile: top self time and time per source file" },
  json: { kind: 'string', help: 'write { machine, rows, verdicts } to this file' },
  keep: { kind: 'boolean', help: 'keep the temporary directory' },
  baseline: {
    kind: 'string',
    help: 'git ref measured too, alternating with this tree; prints current/baseline per figure',
  },
} as const;

export type BenchFlags = Flags<typeof BENCH_FLAGS>;

/** The options as the phases read them. */
export interface BenchOptions {
  durationS: number;
  warmupS: number;
  conns: number[];
  payloads: string[];
  window: number;
  drainPoints: number;
  drainDevices: number;
  soakMinutes: number;
  idleConns: number;
  rate: number;
  httpConns: number;
  rpm: number;
  groupCommitMs: number;
  noDelay: boolean;
  gatewayNodeFlags: string[];
  repeat: number;
  profile: boolean;
  growth: { scale: number; curves: string[]; full: boolean; htmlFile?: string };
}

export function benchOptions(f: BenchFlags): BenchOptions {
  return {
    durationS: f.duration ?? (f.quick ? 4 : 10),
    warmupS: f.warmup ?? (f.quick ? 1 : 2),
    conns: f.conns,
    payloads: f.payloads,
    window: f.window,
    drainPoints: f['drain-points'],
    drainDevices: 100,
    soakMinutes: f['soak-minutes'],
    idleConns: f['idle-conns'],
    rate: f.rate,
    httpConns: 100,
    rpm: f.rpm,
    groupCommitMs: f['group-commit-ms'],
    noDelay: f.nodelay,
    gatewayNodeFlags: f['gateway-node-flags'].split(/\s+/).filter(Boolean),
    repeat: f.repeat,
    profile: f.profile,
    growth: {
      scale: f['sizes-scale'],
      curves: f['growth-curves'],
      full: f['growth-full'],
      ...(f['growth-html'] !== undefined ? { htmlFile: f['growth-html'] } : {}),
    },
  };
}

export const TARGETS = { mqttRatio: 0.5, httpRatio: 0.6, p99Ms: 50, drainPerSec: 20_000, rssMb: 300 };

// ---- payloads and devices ------------------------------------------------------------------------------

const FRAME_DEVICES = 500;
const rec = (i: number) => ({ variable: `temp_${i}`, value: 21.5 + i, unit: 'C' });
export const PAYLOAD: Record<string, FixedMessage> = {
  // One TagoIO record on tago/data/post, a device without a parser: 1 point per message.
  json1: { name: 'json1', topic: 'tago/data/post', body: Buffer.from(JSON.stringify(rec(0))), points: 1 },
  // A 5-byte binary frame on a device topic, decoded by parsers/examples/hex-sensor.js into 3 points.
  frame: { name: 'frame', topic: 'sensors/frame', body: Buffer.from('0e1000eb37', 'hex'), points: 3 },
  // Ten records in one JSON array on tago/data/post, no parser: 10 points per message.
  json10: {
    name: 'json10',
    topic: 'tago/data/post',
    body: Buffer.from(JSON.stringify(Array.from({ length: 10 }, (_, i) => rec(i)))),
    points: 10,
  },
};
export const tokenFor = (payload: string) => (i: number) =>
  payload === 'frame' ? `bench-frame-${i % FRAME_DEVICES}` : `bench-${payload}-${i}`;

// ---- the context ---------------------------------------------------------------------------------------

export interface BenchCtx {
  opts: BenchOptions;
  /** A temporary directory of this tree's run (each phase makes its own subdirectory when it needs one). */
  dir: string;
  /** The tree whose processes are measured: its bin/tago-edge.js and dist/. */
  root: string;
  /** "" for this tree, "baseline REF" for the baseline's: prefixes log lines. */
  label: string;
  simUrl: string;
  /** Where the shared gateway writes its CPU profile (--profile). */
  profileDir?: string;
  /** The gateway shared by the phases marked `sharedGateway`, started on first use. */
  sharedGateway(): Promise<Proc>;
  /**
   * A gateway of the bench's config in `dir` (its own store), from `root`; `store` is merged over the bench's
   * store section (the cluster phase's `engine: jetstream`).
   */
  startGateway(dir: string, profileDir?: string, store?: Record<string, unknown>): Promise<Proc>;
  /** `node <root>/<script>` until its listening line (the floors). */
  startScript(name: string, script: string): Promise<Proc>;
}

function gatewayConfig(
  root: string,
  dir: string,
  simUrl: string,
  opts: BenchOptions,
  store: Record<string, unknown> = {},
): string {
  return writeLoopbackConfig(dir, simUrl, opts.rpm, {
    mqtt: { maxConnections: 20_000 },
    store: { sync: 'full', groupCommitMs: opts.groupCommitMs, ...store },
    devices: Array.from({ length: FRAME_DEVICES }, (_, i) => ({
      name: `bench-frame-${i}`,
      token: `bench-frame-${i}`,
      parser: join(root, 'parsers/examples/hex-sensor.js'),
    })),
    limits: { authFailuresPerMinute: 0 },
  });
}

/**
 * A context for the tree at `root`, with its cloud-sim started. cloud-sim validates and counts every point
 * as TagoIO would, but keeps none for GET /data: nothing here reads them back, and building them doubled its
 * CPU per point on the gateway's cores (cloud-sim-bench.ts). `close` stops what it started.
 */
export async function openContext(
  root: string,
  dir: string,
  opts: BenchOptions,
  label: string,
): Promise<BenchCtx & { procs: Proc[]; stopShared(): Promise<void>; close(): Promise<void> }> {
  const procs: Proc[] = [];
  const sim = await startCloudSim(0, { root });
  procs.push(sim);
  const simUrl = String(sim.ports.url);
  const profileDir = opts.profile ? join(dir, 'profile') : undefined;
  let shared: Promise<Proc> | undefined;
  const startGateway = async (gwDir: string, profile?: string, store?: Record<string, unknown>) => {
    const nodeFlags = [...opts.gatewayNodeFlags, ...(profile ? ['--cpu-prof', '--cpu-prof-dir', profile] : [])];
    const p = await startNode(
      'gateway',
      [join(root, 'bin/tago-edge.js'), 'gateway', '--config', gatewayConfig(root, gwDir, simUrl, opts, store)],
      {
        nodeFlags,
        cwd: root,
      },
    );
    procs.push(p);
    return p;
  };
  return {
    opts,
    dir,
    root,
    label,
    simUrl,
    ...(profileDir ? { profileDir } : {}),
    procs,
    startGateway,
    sharedGateway() {
      shared ??= startGateway(dir, profileDir);
      return shared;
    },
    async startScript(name, script) {
      const p = await startNode(name, [join(root, script)], { cwd: root });
      procs.push(p);
      return p;
    },
    async stopShared() {
      const gw = shared;
      shared = undefined;
      if (gw) await (await gw).stop(30_000);
    },
    async close() {
      for (const p of procs.reverse()) await p.stop().catch(() => undefined);
    },
  };
}

// ---- helpers the phases share --------------------------------------------------------------------------

async function depthPoints(httpUrl: string): Promise<number> {
  const res = await request(`${httpUrl}/readyz`);
  const body = (await res.body.json()) as { store: { depthPoints: number } };
  return body.store.depthPoints;
}

/** Polls the gateway's store depth every 100 ms until it is 0 or `limitMs` has passed: the depth at the start and at the end. */
export async function waitForEmptyQueue(
  gwHttpUrl: string,
  limitMs: number,
): Promise<{ initial: number; left: number }> {
  const t0 = performance.now();
  const initial = await depthPoints(gwHttpUrl);
  let left = initial;
  while (left > 0 && performance.now() - t0 < limitMs) {
    await new Promise((r) => setTimeout(r, 100));
    left = await depthPoints(gwHttpUrl);
  }
  return { initial, left };
}

/**
 * Waits until the gateway has forwarded everything stored (at most 60 s), then 300 ms: what one measurement
 * left queued (forwarding lags ingest at 200k points/s) is not drained on the cores during the next one, the
 * floors' included. Logs what it waited for.
 */
export async function settle(gwHttpUrl: string | undefined): Promise<void> {
  if (gwHttpUrl) {
    const t0 = performance.now();
    const { initial, left } = await waitForEmptyQueue(gwHttpUrl, 60_000);
    if (initial > 0)
      log(
        `settle: the gateway forwarded ${fmt(initial - left)} queued points in ${fmt((performance.now() - t0) / 1000, 1)} s${left > 0 ? ` (${fmt(left)} still queued)` : ''}`,
      );
  }
  await new Promise((r) => setTimeout(r, 300));
}

/** Samples a process's CPU, its main thread's scheduling and the machine's busy share over a measured window. */
export function windowMeter(pid: number) {
  let cpu0 = 0;
  let cpu1 = 0;
  let m0 = { busy: 0, total: 0 };
  let m1 = { busy: 0, total: 0 };
  let s0 = { runNs: 0, waitNs: 0 };
  let s1 = { runNs: 0, waitNs: 0 };
  let w0 = 0;
  let w1 = 0;
  return {
    onWindow(edge: 'start' | 'end'): void {
      if (edge === 'start') {
        cpu0 = cpuSeconds(pid);
        m0 = machineJiffies();
        s0 = mainThreadSched(pid);
        w0 = performance.now();
      } else {
        cpu1 = cpuSeconds(pid);
        m1 = machineJiffies();
        s1 = mainThreadSched(pid);
        w1 = performance.now();
      }
    },
    /**
     * µs of the process's CPU per message, the machine's busy % (of all cores), and the main thread's % on a
     * CPU and % runnable-waiting in the window.
     */
    result(messages: number): Pick<Row, 'cpuUsPerMsg' | 'machineBusyPct' | 'mainRunPct' | 'mainWaitPct'> {
      const total = m1.total - m0.total;
      const wallNs = (w1 - w0) * 1e6;
      return {
        cpuUsPerMsg: messages > 0 ? ((cpu1 - cpu0) * 1e6) / messages : Number.NaN,
        machineBusyPct: total > 0 ? (100 * (m1.busy - m0.busy)) / total : Number.NaN,
        mainRunPct: wallNs > 0 ? (100 * (s1.runNs - s0.runNs)) / wallNs : Number.NaN,
        mainWaitPct: wallNs > 0 ? (100 * (s1.waitNs - s0.waitNs)) / wallNs : Number.NaN,
      };
    },
  };
}
