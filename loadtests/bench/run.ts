/**
 * `npm run bench`: throughput and latency of the gateway's full path against bare floors measured in the same
 * run on the same machine with the same generator, each figure printed with its ratio to its floor, and a
 * PASS/FAIL per target (docs/performance.md explains the method and keeps the last figures).
 *
 *   (a) MQTT QoS 1: bare mosquitto, bare aedes and the gateway (real CLI, own process: auth, the example hex
 *       parser, validation, SQLite `sync: full` with group commit, forwarding to cloud-sim in another
 *       process), 50 and 500 connections, payloads json1 / frame / json10, closed window of W publishes
 *       outstanding per connection; then an open-model run at 5,000 points/s (latency from the scheduled time).
 *   (b) HTTP POST /data: bare node:http vs the gateway, 100 connections (autocannon).
 *   (c) drain: a 1,000,000-point backlog written into the store file, then forwarded to cloud-sim.
 *   (d) memory: gateway RSS with 5,000 idle MQTT connections, then after N minutes at 5,000 points/s.
 *
 * Run: npm run build && npm run bench [-- --quick] [--duration 10] [--warmup 2] [--only mqtt,open,http,drain,memory]
 *      [--conns 50,500] [--payloads json1,frame,json10] [--window 10] [--drain-points 1000000]
 *      [--soak-minutes 1] [--rpm 600000] [--group-commit-ms 2] [--nodelay] [--repeat 1] [--profile] [--json FILE]
 *      [--gateway-node-flags "--max-semi-space-size=64"]
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import {
  closeFixedFleet as closeClients,
  closedWindow,
  connectFixedFleet as connectClients,
  type LoadResult,
  openModel,
  type FixedMessage as Payload,
} from '../../simulators/fleet/fixed-load.js';
import {
  cpuSeconds,
  machineJiffies,
  mainThreadSched,
  type Proc,
  projectRoot,
  rssMb,
  startCloudSim,
  startMosquitto,
  startNode,
} from '../lib/processes.js';
import { writeLoopbackConfig } from '../stack.js';
import { formatFileTime, formatSelfTime, topFileTime, topSelfTime } from './cpu-profile-summary.js';
import { fillBacklog } from './fill-backlog.js';
import { type Inside, insideMeter } from './gateway-inside.js';
import { httpBenchInChild } from './http-load.js';
import { closeIdle, openIdle } from './idle-connections.js';

// ---- options -------------------------------------------------------------------------------------------

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const flag = (name: string) => process.argv.includes(`--${name}`);
const list = (name: string, def: string) => (arg(name) ?? def).split(',').map((s) => s.trim());

const QUICK = flag('quick');
const DURATION_S = Number(arg('duration') ?? (QUICK ? 4 : 10));
const WARMUP_S = Number(arg('warmup') ?? (QUICK ? 1 : 2));
const ONLY = new Set(list('only', 'mqtt,open,http,drain,memory'));
const CONNS = list('conns', '50,500').map(Number);
const PAYLOADS = list('payloads', 'json1,frame,json10');
const WINDOW = Number(arg('window') ?? 10);
const DRAIN_POINTS = Number(arg('drain-points') ?? 1_000_000);
const DRAIN_DEVICES = 100;
const SOAK_MIN = Number(arg('soak-minutes') ?? 1);
const IDLE_CONNS = Number(arg('idle-conns') ?? 5_000);
const RATE = Number(arg('rate') ?? 5_000);
const HTTP_CONNS = 100;
// 600,000/min lets forwarding run as fast as it can, competing with ingest for the cores; --rpm 15000 is
// TagoIO's largest plan (measured: no difference in the ingest figures, docs/performance.md).
const RPM = Number(arg('rpm') ?? 600_000);
// store.groupCommitMs for the gateway (its default, 2, unless given): for A/B runs of the commit schedule.
const GROUP_COMMIT_MS = Number(arg('group-commit-ms') ?? 2);
// TCP_NODELAY on the MQTT generator's sockets, for every system alike (off by default, as in MQTT.js).
const NO_DELAY = flag('nodelay');
// Node flags for the gateway process (space-separated), for A/B runs of V8 settings.
const GW_NODE_FLAGS = (arg('gateway-node-flags') ?? '').split(/\s+/).filter(Boolean);
// Closed-window MQTT and HTTP figures measured N times, floors and gateway alternating; verdicts on the median.
const REPEAT = Math.max(1, Number(arg('repeat') ?? 1));
const PROFILE = flag('profile');

const TARGETS = { mqttRatio: 0.5, httpRatio: 0.6, p99Ms: 50, drainPerSec: 20_000, rssMb: 300 };

// ---- payloads and devices ------------------------------------------------------------------------------

const FRAME_DEVICES = 500;
const rec = (i: number) => ({ variable: `temp_${i}`, value: 21.5 + i, unit: 'C' });
const PAYLOAD: Record<string, Payload> = {
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
const tokenFor = (payload: string) => (i: number) =>
  payload === 'frame' ? `bench-frame-${i % FRAME_DEVICES}` : `bench-${payload}-${i}`;

function gatewayConfig(dir: string, simUrl: string): string {
  const root = projectRoot();
  return writeLoopbackConfig(dir, simUrl, RPM, {
    mqtt: { maxConnections: 20_000 },
    store: { sync: 'full', groupCommitMs: GROUP_COMMIT_MS },
    devices: Array.from({ length: FRAME_DEVICES }, (_, i) => ({
      name: `bench-frame-${i}`,
      token: `bench-frame-${i}`,
      parser: join(root, 'parsers/examples/hex-sensor.js'),
    })),
    limits: { authFailuresPerMinute: 0 },
  });
}

/**
 * cloud-sim validates and counts every point as TagoIO would, but keeps none for GET /data: nothing here reads
 * them back, and building them doubled its CPU per point on the gateway's cores (cloud-sim-bench.ts).
 */
function startSim(): Promise<Proc> {
  return startCloudSim(0);
}

async function startGw(configFile: string, profileDir?: string): Promise<Proc> {
  const flags = [...GW_NODE_FLAGS, ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [])];
  return startNode('gateway', ['bin/tago-edge.js', 'gateway', '--config', configFile], { nodeFlags: flags });
}

async function depthPoints(httpUrl: string): Promise<number> {
  const res = await request(`${httpUrl}/readyz`);
  const body = (await res.body.json()) as { store: { depthPoints: number } };
  return body.store.depthPoints;
}

/** Polls the gateway's store depth every 100 ms until it is 0 or `limitMs` has passed: the depth at the start and at the end. */
async function waitForEmptyQueue(gwHttpUrl: string, limitMs: number): Promise<{ initial: number; left: number }> {
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
async function settle(gwHttpUrl: string | undefined): Promise<void> {
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

// ---- output --------------------------------------------------------------------------------------------

export interface Row {
  section: string;
  target: string;
  figure: string;
  value: number;
  unit: string;
  p50?: number;
  p99?: number;
  floor?: string;
  ratio?: number;
  /** CPU of the system under test per message (all its threads), µs; and the machine's busy share. */
  cpuUsPerMsg?: number;
  machineBusyPct?: number;
  /**
   * The system under test's main thread in the window: % of the time on a CPU, and % runnable but waiting
   * for one (the two cores are shared). Their sum near 100 % means it never idles: it, or the cores, are the bound.
   */
  mainRunPct?: number;
  mainWaitPct?: number;
  /** The gateway's own view of the window (its /metrics): mean arrival → acknowledgement, parser stage, commits/s. */
  inside?: Inside;
}
const rows: Row[] = [];
export interface Verdict {
  target: string;
  measured: string;
  pass: boolean;
}
const verdicts: Verdict[] = [];

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}
function addRow(r: Row): void {
  rows.push(r);
  const lat = r.p99 !== undefined ? `  p50 ${fmt(r.p50 ?? 0, 1)} ms  p99 ${fmt(r.p99, 1)} ms` : '';
  const ratio = r.ratio !== undefined ? `  = ${fmt(r.ratio * 100, 0)} % of ${r.floor}` : '';
  const cpu = r.cpuUsPerMsg !== undefined ? `  cpu ${fmt(r.cpuUsPerMsg, 1)} µs/msg` : '';
  const main = r.mainRunPct !== undefined ? `  main thread ${mainShare(r)}` : '';
  const inside = r.inside ? `  inside: ack ${insideText(r.inside)}` : '';
  log(`${r.section} ${r.target}: ${fmt(r.value)} ${r.unit}${lat}${ratio}${cpu}${main}${inside}`);
}
/** e.g. "6.9 ms (parser 3.4 ms), 245 commits/s". */
function insideText(i: Inside): string {
  const parser = Number.isNaN(i.parserMs) ? '' : ` (parser ${fmt(i.parserMs, 1)} ms)`;
  return `${fmt(i.ackMs, 1)} ms${parser}, ${fmt(i.commitsPerSec)} commits/s`;
}
/** "on-CPU+waiting %" of the main thread, e.g. "66+26 %". */
function mainShare(r: Row): string {
  if (r.mainRunPct === undefined || Number.isNaN(r.mainRunPct)) return '';
  return `${fmt(r.mainRunPct)}+${fmt(r.mainWaitPct ?? Number.NaN)} %`;
}
function verdict(target: string, measured: string, pass: boolean): void {
  verdicts.push({ target, measured, pass });
}

function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  return `${cpu}, ${cpus().length} cores, ${fmt(totalmem() / 1024 ** 3, 1)} GiB RAM, Node ${process.version}, ${process.platform}`;
}

// ---- the phases ----------------------------------------------------------------------------------------

/** Samples a process's CPU, its main thread's scheduling and the machine's busy share over a measured window. */
function windowMeter(pid: number) {
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

async function mqttPhase(
  targets: Array<{ name: string; url: string; pid: number; metricsUrl?: string }>,
  gwHttpUrl: string,
): Promise<void> {
  const warmupMs = WARMUP_S * 1000;
  const durationMs = DURATION_S * 1000;
  for (const p of PAYLOADS) {
    const payload = PAYLOAD[p];
    if (!payload) throw new Error(`--payloads: unknown payload ${p} (json1, frame, json10)`);
    for (const conns of CONNS) {
      const ratios: number[] = [];
      let results = new Map<string, LoadResult>();
      for (let run = 1; run <= REPEAT; run++) {
        results = new Map<string, LoadResult>();
        for (const t of targets) {
          await settle(gwHttpUrl);
          const clients = await connectClients(t.url, conns, tokenFor(p), { noDelay: NO_DELAY });
          const meter = windowMeter(t.pid);
          const inside = t.metricsUrl ? insideMeter(t.metricsUrl) : undefined;
          const r = await closedWindow(clients, payload, {
            window: WINDOW,
            warmupMs,
            durationMs,
            onWindow: (edge) => {
              meter.onWindow(edge);
              inside?.onWindow(edge);
            },
          });
          const usage = meter.result(r.msgsPerSec * DURATION_S);
          const insideView = await inside?.result();
          await closeClients(clients);
          results.set(t.name, r);
          const floor = results.get('mosquitto');
          addRow({
            section: `mqtt ${p} ${conns}c${REPEAT > 1 ? ` #${run}` : ''}`,
            target: t.name,
            figure: 'msgs/s',
            value: r.msgsPerSec,
            unit: `msg/s (${fmt(r.pointsPerSec)} points/s${r.errors ? `, ${r.errors} errors` : ''})`,
            p50: r.p50Ms,
            p99: r.p99Ms,
            ...(floor && t.name !== 'mosquitto' ? { floor: 'mosquitto', ratio: r.msgsPerSec / floor.msgsPerSec } : {}),
            ...usage,
            ...(insideView ? { inside: insideView } : {}),
          });
        }
        const gwRun = results.get('gateway');
        const mqRun = results.get('mosquitto');
        if (gwRun && mqRun) ratios.push(gwRun.msgsPerSec / mqRun.msgsPerSec);
      }
      const gw = results.get('gateway');
      const mq = results.get('mosquitto');
      if (gw && mq && p !== 'json10') {
        const ratio = median(ratios);
        verdict(
          `MQTT QoS 1 ${p === 'json1' ? '1 point' : '1 frame (parser)'}/msg, ${conns} conns ≥ ${TARGETS.mqttRatio * 100} % of mosquitto`,
          REPEAT > 1
            ? `median of ${REPEAT} runs ${fmt(ratio * 100)} % (${ratios.map((r) => fmt(r * 100)).join(', ')} %)`
            : `${fmt(gw.msgsPerSec)} vs ${fmt(mq.msgsPerSec)} msg/s = ${fmt(ratio * 100)} %`,
          ratio >= TARGETS.mqttRatio,
        );
      }
    }
  }
}

async function openPhase(url: string, minutes?: number, onSample?: () => void): Promise<LoadResult> {
  const payload = PAYLOAD.json1 as Payload;
  const clients = await connectClients(url, 500, tokenFor('json1'));
  const durationMs = minutes !== undefined ? minutes * 60_000 : DURATION_S * 1000;
  const sampler = onSample ? setInterval(onSample, 5_000) : null;
  const r = await openModel(clients, payload, { ratePerSec: RATE, warmupMs: WARMUP_S * 1000, durationMs });
  if (sampler) clearInterval(sampler);
  await closeClients(clients);
  return r;
}

async function httpPhase(floorTarget: { url: string; pid: number }, gwTarget: { url: string; pid: number }) {
  const tokens = Array.from({ length: 100 }, (_, i) => `bench-http-${i}`);
  const opts = { connections: HTTP_CONNS, warmupSeconds: WARMUP_S, seconds: DURATION_S, tokens };
  const ratios: number[] = [];
  let last = { gw: 0, floor: 0 };
  for (let run = 1; run <= REPEAT; run++) {
    const section = `http 100c${REPEAT > 1 ? ` #${run}` : ''}`;
    await settle(gwTarget.url);
    const floorMeter = windowMeter(floorTarget.pid);
    const floor = await httpBenchInChild(floorTarget.url, { ...opts, onWindow: floorMeter.onWindow });
    addRow({
      section,
      target: 'node:http',
      figure: 'req/s',
      value: floor.reqPerSec,
      unit: 'req/s',
      p50: floor.p50Ms,
      p99: floor.p99Ms,
      ...floorMeter.result(floor.reqPerSec * DURATION_S),
    });
    await settle(gwTarget.url);
    const gwMeter = windowMeter(gwTarget.pid);
    const inside = insideMeter(`${gwTarget.url}/metrics`);
    const gw = await httpBenchInChild(gwTarget.url, {
      ...opts,
      onWindow: (edge) => {
        gwMeter.onWindow(edge);
        inside.onWindow(edge);
      },
    });
    const insideView = await inside.result();
    ratios.push(gw.reqPerSec / floor.reqPerSec);
    last = { gw: gw.reqPerSec, floor: floor.reqPerSec };
    addRow({
      section,
      target: 'gateway',
      figure: 'req/s',
      value: gw.reqPerSec,
      unit: `req/s${gw.non2xx + gw.errors ? ` (${gw.non2xx} non-2xx, ${gw.errors} errors)` : ''}`,
      p50: gw.p50Ms,
      p99: gw.p99Ms,
      floor: 'node:http',
      ratio: gw.reqPerSec / floor.reqPerSec,
      ...gwMeter.result(gw.reqPerSec * DURATION_S),
      ...(insideView ? { inside: insideView } : {}),
    });
  }
  const ratio = median(ratios);
  verdict(
    `HTTP POST /data, 100 conns ≥ ${TARGETS.httpRatio * 100} % of bare node:http`,
    REPEAT > 1
      ? `median of ${REPEAT} runs ${fmt(ratio * 100)} % (${ratios.map((r) => fmt(r * 100)).join(', ')} %)`
      : `${fmt(last.gw)} vs ${fmt(last.floor)} req/s = ${fmt(ratio * 100)} %`,
    ratio >= TARGETS.httpRatio,
  );
}

/** The middle value (the mean of the two middle ones for an even count). */
function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
}

async function drainPhase(dir: string, simUrl: string): Promise<void> {
  const ddir = join(dir, 'drain');
  mkdirSync(join(ddir, 'data'), { recursive: true });
  log(`drain: writing a ${fmt(DRAIN_POINTS)}-point backlog over ${DRAIN_DEVICES} devices`);
  const t0 = performance.now();
  const { bytes } = await fillBacklog(join(ddir, 'data', 'tago-edge.db'), DRAIN_POINTS, DRAIN_DEVICES);
  log(`drain: backlog written in ${fmt((performance.now() - t0) / 1000, 1)} s (${fmt(bytes / 1024 ** 2, 0)} MB)`);
  const t1 = performance.now();
  const gw = await startGw(gatewayConfig(ddir, simUrl));
  const started = performance.now();
  const http = `http://127.0.0.1:${gw.ports.http}`;
  const { initial, left: depth } = await waitForEmptyQueue(http, 600_000);
  const seconds = (performance.now() - started) / 1000;
  const perSec = (initial - depth) / seconds;
  await gw.stop();
  addRow({
    section: 'drain',
    target: 'gateway',
    figure: 'points/s',
    value: perSec,
    unit: `points/s (${fmt(initial)} points in ${fmt(seconds, 1)} s, startup ${fmt((started - t1) / 1000, 1)} s, ${fmt(depth)} left)`,
  });
  verdict(
    `drain of a ${fmt(DRAIN_POINTS)}-point backlog ≥ ${fmt(TARGETS.drainPerSec)} points/s`,
    `${fmt(perSec)} points/s`,
    perSec >= TARGETS.drainPerSec && depth === 0,
  );
}

async function memoryPhase(dir: string, simUrl: string): Promise<void> {
  const mdir = join(dir, 'memory');
  mkdirSync(mdir, { recursive: true });
  const gw = await startGw(gatewayConfig(mdir, simUrl));
  const port = Number(gw.ports.mqtt);
  await new Promise((r) => setTimeout(r, 1_000));
  const base = rssMb(gw.pid);
  log(`memory: opening ${fmt(IDLE_CONNS)} idle MQTT connections`);
  const idle = await openIdle(port, IDLE_CONNS, (i) => `bench-idle-${i}`);
  await new Promise((r) => setTimeout(r, 3_000));
  const withIdle = rssMb(gw.pid);
  addRow({
    section: 'memory',
    target: 'gateway',
    figure: 'RSS',
    value: withIdle,
    unit: `MB RSS with ${fmt(IDLE_CONNS)} idle connections (${fmt(base)} MB before, ${fmt(((withIdle - base) * 1024) / IDLE_CONNS, 1)} kB/conn)`,
  });
  verdict(
    `RSS with ${fmt(IDLE_CONNS)} idle MQTT connections ≤ ${TARGETS.rssMb} MB`,
    `${fmt(withIdle)} MB`,
    withIdle <= TARGETS.rssMb,
  );
  if (SOAK_MIN > 0) {
    log(`memory: ${SOAK_MIN} min at ${fmt(RATE)} points/s (500 more connections, idle ones kept open)`);
    let peak = withIdle;
    const r = await openPhase(`mqtt://127.0.0.1:${port}`, SOAK_MIN, () => {
      peak = Math.max(peak, rssMb(gw.pid));
    });
    const after = rssMb(gw.pid);
    peak = Math.max(peak, after);
    addRow({
      section: 'memory',
      target: 'gateway',
      figure: 'RSS',
      value: after,
      unit: `MB RSS after ${SOAK_MIN} min at ${fmt(RATE)} points/s (peak ${fmt(peak)} MB; p99 ${fmt(r.p99Ms, 1)} ms, max ${fmt(r.maxMs, 1)} ms, ${r.unanswered ?? 0} unanswered)`,
    });
    verdict(
      `RSS after ${SOAK_MIN} min at ${fmt(RATE)} points/s ≤ ${TARGETS.rssMb} MB`,
      `${fmt(after)} MB (peak ${fmt(peak)})`,
      after <= TARGETS.rssMb,
    );
  }
  closeIdle(idle);
  await gw.stop();
}

// ---- main ----------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tago-edge-bench-'));
  const profileDir = PROFILE ? join(dir, 'profile') : undefined;
  const started = Date.now();
  const procs: Proc[] = [];
  log(`machine: ${machine()}`);
  try {
    const sim = await startSim();
    procs.push(sim);
    const simUrl = String(sim.ports.url);
    if (ONLY.has('mqtt') || ONLY.has('open') || ONLY.has('http')) {
      const gw = await startGw(gatewayConfig(dir, simUrl), profileDir);
      procs.push(gw);
      const gwMqtt = `mqtt://127.0.0.1:${gw.ports.mqtt}`;
      if (ONLY.has('mqtt')) {
        const mosq = await startMosquitto(dir);
        const aedes = await startNode('aedes', ['dist/loadtests/bench/aedes-floor.js']);
        procs.push(mosq, aedes);
        await mqttPhase(
          [
            { name: 'mosquitto', url: `mqtt://127.0.0.1:${mosq.ports.mqtt}`, pid: mosq.pid },
            { name: 'aedes', url: `mqtt://127.0.0.1:${aedes.ports.mqtt}`, pid: aedes.pid },
            { name: 'gateway', url: gwMqtt, pid: gw.pid, metricsUrl: `http://127.0.0.1:${gw.ports.http}/metrics` },
          ],
          `http://127.0.0.1:${gw.ports.http}`,
        );
        await mosq.stop();
        await aedes.stop();
      }
      if (ONLY.has('open')) {
        await settle(`http://127.0.0.1:${gw.ports.http}`);
        const r = await openPhase(gwMqtt);
        addRow({
          section: `mqtt open-model ${fmt(RATE)}/s 500c`,
          target: 'gateway',
          figure: 'p99',
          value: r.p99Ms,
          unit: `ms p99 publish→PUBACK from the scheduled time (p50 ${fmt(r.p50Ms, 1)}, p99.9 ${fmt(r.p999Ms, 1)}, max ${fmt(r.maxMs, 1)} ms; ${fmt(r.acked)} acked, ${r.unanswered ?? 0} unanswered)`,
        });
        verdict(
          `publish→PUBACK p99 ≤ ${TARGETS.p99Ms} ms at ${fmt(RATE)} points/s (open model)`,
          `p99 ${fmt(r.p99Ms, 1)} ms`,
          r.p99Ms <= TARGETS.p99Ms && (r.unanswered ?? 0) === 0,
        );
      }
      if (ONLY.has('http')) {
        const floor = await startNode('http-floor', ['dist/loadtests/bench/http-floor.js']);
        procs.push(floor);
        await httpPhase(
          { url: `http://127.0.0.1:${floor.ports.http}`, pid: floor.pid },
          { url: `http://127.0.0.1:${gw.ports.http}`, pid: gw.pid },
        );
        await floor.stop();
      }
      await gw.stop(30_000);
    }
    if (ONLY.has('drain')) await drainPhase(dir, simUrl);
    if (ONLY.has('memory')) await memoryPhase(dir, simUrl);
  } finally {
    for (const p of procs.reverse()) await p.stop().catch(() => undefined);
  }

  const out: string[] = [];
  out.push('');
  out.push('tago-edge bench');
  out.push(`machine: ${machine()}`);
  out.push(
    `method: generator = MQTT.js 5 in this process, autocannon 8 in a fresh child process per HTTP measurement; systems under test each in their own process; before each measurement the gateway forwards what the previous one left queued; warm-up ${WARMUP_S} s discarded, then ${DURATION_S} s measured. MQTT closed window: ${WINDOW} QoS 1 publishes outstanding per connection${NO_DELAY ? ', generator sockets TCP_NODELAY' : ', generator sockets with Nagle (MQTT.js default)'}. Gateway: sqlite sync=full, groupCommitMs ${GROUP_COMMIT_MS}, forwarding to cloud-sim (upstream.requestsPerMinute ${fmt(RPM)}). Latency: HdrHistogram, publish→PUBACK / request→response. cpu µs/msg: the system under test's CPU (all threads, /proc) in the measured window per message answered; busy: the machine's busy share of all cores then (the generator and cloud-sim included): ratios move with the machine's load, CPU per message much less. main: the system's main thread, % of the window on a CPU + % runnable but waiting for one (/proc/PID/task/PID/schedstat); 85–95 % for the gateway: its main thread hardly idles; it, or the cores it shares, is the bound. inside (log lines, gateway runs): the gateway's own /metrics over the window: mean arrival → PUBACK or 200, the parser stage's share of it, group commits/s.`,
  );
  out.push('');
  out.push(
    `${'scenario'.padEnd(30)} ${'system'.padEnd(10)} ${'figure'.padStart(12)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'cpu µs/msg'.padStart(10)} ${'busy'.padStart(5)} ${'main'.padStart(9)}  ratio`,
  );
  for (const r of rows) {
    const cpu = r.cpuUsPerMsg !== undefined ? fmt(r.cpuUsPerMsg, 1).padStart(10) : ' '.repeat(10);
    const busy = r.machineBusyPct !== undefined ? `${fmt(r.machineBusyPct)} %`.padStart(5) : ' '.repeat(5);
    const main = mainShare(r).padStart(9);
    out.push(
      `${r.section.padEnd(30)} ${r.target.padEnd(10)} ${fmt(r.value, r.figure === 'p99' ? 1 : 0).padStart(12)} ${r.p50 !== undefined ? fmt(r.p50, 1).padStart(8) : '        '} ${r.p99 !== undefined ? fmt(r.p99, 1).padStart(8) : '        '} ${cpu} ${busy} ${main}  ${r.ratio !== undefined ? `${fmt(r.ratio * 100)} % of ${r.floor}` : ''}  ${r.unit}`,
    );
  }
  out.push('');
  for (const v of verdicts) out.push(`${v.pass ? 'PASS' : 'FAIL'}  ${v.target}: ${v.measured}`);
  out.push(`(${fmt((Date.now() - started) / 1000)} s)`);
  console.log(out.join('\n'));

  if (profileDir) {
    const files = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile'));
    for (const f of files) {
      console.log(`\ngateway CPU profile ${join(profileDir, f)}: top self time`);
      console.log(formatSelfTime(topSelfTime(join(profileDir, f), 30)));
      console.log(`\ngateway CPU profile ${f}: inclusive time per source file (share of busy time)`);
      console.log(formatFileTime(topFileTime(join(profileDir, f), 30)));
    }
  }
  const jsonFile = arg('json');
  if (jsonFile) writeFileSync(jsonFile, JSON.stringify({ machine: machine(), rows, verdicts }, null, 2));
  if (!profileDir && !flag('keep')) rmSync(dir, { recursive: true, force: true });
  else log(`kept ${dir}`);
  process.exitCode = verdicts.every((v) => v.pass) ? 0 : 1;
}

await main();
