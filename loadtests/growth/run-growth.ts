/**
 * The growth curves (the bench's `growth` phase, loadtests/bench/phases/growth.ts): how the gateway's cost
 * grows with its work. Curves (each a file here): connections, storm, registry, parsers, backlog, points.
 * Prints one table per curve and writes one self-contained HTML page with a chart per figure, the method and
 * the machine (docs/performance.md, "Growth curves").
 *
 *   npm run build && npm run bench -- --only growth [--growth-curves connections,storm,…] [--sizes-scale 1]
 *     [--growth-full] [--growth-html FILE]
 *
 * Loopback only; every process it starts is stopped when it ends. Full sizes take long (tens of thousands
 * of sockets: the gateway and generators raise their open-file limit); --growth-full adds bigger sizes.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { backlogCurve } from './backlog.js';
import { connectionsCurve } from './connections.js';
import { fmt, type GrowthContext } from './context.js';
import { parsersCurve } from './parsers.js';
import { pointsPerMessageCurve } from './points-per-message.js';
import { registryCurve } from './registry.js';
import { type Curve, renderHtml, renderTable } from './report.js';
import { stormCurve } from './storm.js';

const CURVES: Record<string, (ctx: GrowthContext) => Promise<Curve>> = {
  connections: connectionsCurve,
  storm: stormCurve,
  registry: registryCurve,
  parsers: parsersCurve,
  backlog: backlogCurve,
  points: pointsPerMessageCurve,
};

function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  return `${cpu}, ${cpus().length} cores, ${fmt(totalmem() / 1024 ** 3, 1)} GiB RAM, Node ${process.version}, ${process.platform}`;
}

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

export const METHOD =
  'Every system in its own process on loopback: the gateway is the real CLI (bin/tago-edge.js gateway, store sync full, forwarding to cloud-sim, another process, at 600,000 requests/min), started through bash with ulimit -n 200000 (or the hard limit, when lower); generators are raw-socket MQTT processes, MQTT.js clients in the bench process, or autocannon in a child process. RSS from /proc/PID/status, CPU = the gateway’s user + system time (all threads) over the measured window. Each curve is one size after another on one machine in one run; its sizes, windows and load are in its notes.';

export interface GrowthOptions {
  /** Curve names, in the order they run (CURVE_NAMES by default). */
  curves: readonly string[];
  /** Multiplies every curve's sizes (`--sizes-scale`). */
  scale: number;
  /** The bigger sizes and longer windows (`--growth-full`). */
  full: boolean;
  /** Where the HTML page goes (a new file in the temporary directory by default). */
  htmlFile?: string;
  /** Also writes the page's data as JSON here. */
  jsonFile?: string;
  /** A scratch directory (removed by the caller) and cloud-sim's URL, which the gateways forward to. */
  dir: string;
  simUrl: string;
}

export const CURVE_NAMES = Object.keys(CURVES);

/** Runs the curves one after another, prints a table per curve, writes the HTML page; resolves with its path and the curves. */
export async function runGrowth(o: GrowthOptions): Promise<{ htmlFile: string; curves: Curve[] }> {
  for (const n of o.curves) {
    if (!CURVES[n]) throw new Error(`--growth-curves: unknown curve "${n}" (${CURVE_NAMES.join(', ')})`);
  }
  const htmlFile = o.htmlFile ?? join(tmpdir(), `tago-edge-growth-${Date.now()}.html`);
  const log = (msg: string) => process.stderr.write(`[growth ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
  const loadBefore = load();
  log(`machine: ${machine()}; load average ${loadBefore}`);
  const started = Date.now();
  const curves: Curve[] = [];
  const ctx: GrowthContext = { full: o.full, scale: o.scale, dir: o.dir, simUrl: o.simUrl, log };
  for (const n of o.curves) {
    log(`curve ${n}`);
    const curve = await (CURVES[n] as (ctx: GrowthContext) => Promise<Curve>)(ctx);
    curves.push(curve);
    console.log(`\n${renderTable(curve)}`);
  }
  const page = {
    title: 'tago-edge: how the gateway’s cost grows with its work',
    machine: machine(),
    load: `${loadBefore} at the start → ${load()} at the end (1, 5, 15 min)`,
    method: `${METHOD}${o.scale !== 1 ? ` Sizes scaled by ${o.scale}.` : ''}${o.full ? ' --growth-full sizes.' : ''}`,
    generatedAt: new Date().toISOString(),
    curves,
  };
  writeFileSync(htmlFile, renderHtml(page));
  if (o.jsonFile) writeFileSync(o.jsonFile, JSON.stringify(page, null, 2));
  console.log(`\n(${fmt((Date.now() - started) / 1000)} s) HTML report: ${htmlFile}`);
  return { htmlFile, curves };
}
