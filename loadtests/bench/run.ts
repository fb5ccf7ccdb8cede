/**
 * `npm run bench`: throughput and latency of the gateway's full path against bare floors measured in the same
 * run on the same machine with the same generator, each figure printed with its ratio to its floor, and a
 * PASS/FAIL per target (docs/performance.md explains the method and keeps the last figures).
 *
 * The phases (phases/index.ts; `--help` lists them):
 *   (a) mqtt: MQTT QoS 1: bare mosquitto, bare aedes and the gateway (real CLI, own process: auth, the example
 *       hex parser, validation, SQLite `sync: full` with group commit, forwarding to cloud-sim in another
 *       process), 50 and 500 connections, payloads json1 / frame / json10, closed window of W publishes
 *       outstanding per connection; open: an open-model run at 5,000 points/s (latency from the scheduled time).
 *   (b) http: HTTP POST /data: bare node:http vs the gateway, 100 connections (autocannon).
 *   (c) drain: a 1,000,000-point backlog written into the store file, then forwarded to cloud-sim.
 *   (d) memory: gateway RSS with 5,000 idle MQTT connections, then after N minutes at 5,000 points/s.
 *   (e) growth, opt-in (`--only growth`): growth curves of the gateway's cost, a table each and an HTML page
 *       of SVG charts (loadtests/growth/).
 *   (f) cluster, opt-in (`--only cluster`): one gateway node on the JetStream store at R1 and R3 (local
 *       nats-servers) and on SQLite, MQTT QoS 1 and HTTP, against a bare JetStream publish-ack loop.
 *
 * This file is the driver: it parses the flags once, runs the selected phases with a context, gathers the rows
 * and verdicts they return, and prints and writes them. With `--baseline REF` each phase also runs against the
 * tree at REF (baseline.ts), this tree first, then the baseline, phase by phase, and a table of
 * current/baseline per figure follows the report.
 *
 * Run: npm run build && npm run bench [-- --help] [--quick] [--only mqtt,open,http,drain,memory|growth|cluster] [--baseline REF] …
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseFlags, runScript } from '../lib/args.js';
import { projectRoot } from '../lib/processes.js';
import { type Baseline, prepareBaseline } from './baseline.js';
import { BENCH_FLAGS, type BenchOptions, benchOptions, openContext } from './context.js';
import { formatFileTime, formatSelfTime, topFileTime, topSelfTime } from './cpu-profile-summary.js';
import { DEFAULT_PHASES, PHASES, type Phase } from './phases/index.js';
import { fmt, log, type PhaseResult, type Row, rowTable, type Verdict } from './results.js';

export type { Row, Verdict } from './results.js';

const USAGE = 'npm run bench --';

const FLAGS = {
  ...BENCH_FLAGS,
  only: {
    kind: 'list',
    default: DEFAULT_PHASES.map((p) => p.name),
    choices: PHASES.map((p) => p.name),
    help: 'phases to run, in this order',
  },
} as const;

function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  return `${cpu}, ${cpus().length} cores, ${fmt(totalmem() / 1024 ** 3, 1)} GiB RAM, Node ${process.version}, ${process.platform}`;
}

function phaseList(): string {
  const width = Math.max(...PHASES.map((p) => p.name.length)) + 2;
  return [
    'phases (--only a,b; all but the opt-in ones by default, in this order):',
    ...PHASES.map((p) => `  ${p.name.padEnd(width)}${p.optIn ? '(opt-in: only with --only) ' : ''}${p.about}`),
  ].join('\n');
}

function methodLine(o: BenchOptions): string {
  return `method: generator = MQTT.js 5 in this process, autocannon 8 in a fresh child process per HTTP measurement; systems under test each in their own process; before each measurement the gateway forwards what the previous one left queued; warm-up ${o.warmupS} s discarded, then ${o.durationS} s measured. MQTT closed window: ${o.window} QoS 1 publishes outstanding per connection${o.noDelay ? ', generator sockets TCP_NODELAY' : ', generator sockets with Nagle (MQTT.js default)'}. Gateway: sqlite sync=full, groupCommitMs ${o.groupCommitMs}, forwarding to cloud-sim (upstream.requestsPerMinute ${fmt(o.rpm)}). Latency: HdrHistogram, publish→PUBACK / request→response. cpu µs/msg: the system under test's CPU (all threads, /proc) in the measured window per message answered; busy: the machine's busy share of all cores then (the generator and cloud-sim included): ratios move with the machine's load, CPU per message much less. main: the system's main thread, % of the window on a CPU + % runnable but waiting for one (/proc/PID/task/PID/schedstat); 85–95 % for the gateway: its main thread hardly idles; it, or the cores it shares, is the bound. inside (log lines, gateway runs): the gateway's own /metrics over the window: mean arrival → PUBACK or 200, the parser stage's share of it, group commits/s.`;
}

/** current/baseline for each figure both runs measured (matched by scenario, system and figure). */
export function comparison(current: readonly Row[], baseline: readonly Row[], label: string): string[] {
  const key = (r: Row) => `${r.section}\u0000${r.target}\u0000${r.figure}`;
  const base = new Map(baseline.map((r) => [key(r), r]));
  const out = [
    `current / ${label} (same run, alternating phase by phase; > 1: current higher; for p99 and RSS lower is better)`,
    `${'scenario'.padEnd(30)} ${'system'.padEnd(10)} ${'figure'.padStart(8)} ${'current'.padStart(12)} ${'baseline'.padStart(12)} ${'ratio'.padStart(7)} ${'p99 ratio'.padStart(9)}`,
  ];
  for (const r of current) {
    const b = base.get(key(r));
    if (!b) continue;
    const d = r.figure === 'p99' ? 1 : 0;
    const p99 = r.p99 !== undefined && b.p99 ? fmt(r.p99 / b.p99, 2) : '';
    out.push(
      `${r.section.padEnd(30)} ${r.target.padEnd(10)} ${r.figure.padStart(8)} ${fmt(r.value, d).padStart(12)} ${fmt(b.value, d).padStart(12)} ${(b.value ? fmt(r.value / b.value, 2) : '').padStart(7)} ${p99.padStart(9)}`,
    );
  }
  return out;
}

/** Runs `phases` on one tree: the shared gateway starts with the first phase needing it. */
async function runTree(
  ctx: Awaited<ReturnType<typeof openContext>>,
  phase: Phase,
  stopSharedAfter: boolean,
): Promise<PhaseResult> {
  const r = await phase.run(ctx);
  if (stopSharedAfter) await ctx.stopShared();
  return r;
}

async function main(): Promise<void> {
  const flags = parseFlags(USAGE, FLAGS, process.argv.slice(2), phaseList());
  const opts = benchOptions(flags);
  const phases = PHASES.filter((p) => flags.only.includes(p.name));
  const root = projectRoot();
  const dir = mkdtempSync(join(tmpdir(), 'tago-edge-bench-'));
  const started = Date.now();
  const rows: Row[] = [];
  const verdicts: Verdict[] = [];
  /** Each phase's own rows (of this tree), for the phases that summarize theirs. */
  const phaseRows = new Map<Phase, Row[]>();
  const baseRows: Row[] = [];
  const baseVerdicts: Verdict[] = [];
  let baseline: Baseline | undefined;
  let profileDir: string | undefined;
  log(`machine: ${machine()}`);
  try {
    if (flags.baseline !== undefined) baseline = await prepareBaseline(flags.baseline, root);
    const label = baseline ? `baseline ${baseline.ref}` : '';
    const current = await openContext(root, dir, opts, '');
    profileDir = current.profileDir;
    let base: Awaited<ReturnType<typeof openContext>> | undefined;
    try {
      if (baseline) {
        const bdir = join(dir, 'baseline');
        mkdirSync(bdir);
        base = await openContext(baseline.root, bdir, { ...opts, profile: false }, label);
      }
      const lastShared = phases.findLastIndex((p) => p.sharedGateway);
      for (const [i, phase] of phases.entries()) {
        // Alone, the shared gateway lives from the first phase that needs it to the last; alternating with a
        // baseline, each tree's stops after every phase so that only the one measured is running.
        const stopShared = base !== undefined || i === lastShared;
        const r = await runTree(current, phase, stopShared);
        rows.push(...r.rows);
        phaseRows.set(phase, r.rows);
        verdicts.push(...r.verdicts);
        if (base) {
          const b = await runTree(base, phase, stopShared);
          baseRows.push(...b.rows);
          baseVerdicts.push(...b.verdicts);
        }
      }
    } finally {
      await base?.close();
      await current.close();
    }
  } finally {
    baseline?.remove();
  }

  const out: string[] = [];
  out.push('');
  out.push('tago-edge bench');
  out.push(`machine: ${machine()}`);
  if (rows.length > 0) out.push(methodLine(opts));
  for (const p of phaseRows.keys()) if (p.method) out.push(p.method(opts));
  out.push('');
  // Opt-in phases alone (growth) print their own tables and return no rows.
  if (rows.length > 0) out.push(...rowTable(rows), '');
  for (const [p, r] of phaseRows) if (p.report && r.length > 0) out.push(...p.report(r), '');
  for (const v of verdicts) out.push(`${v.pass ? 'PASS' : 'FAIL'}  ${v.target}: ${v.measured}`);
  if (baseline) {
    const label = `baseline ${baseline.ref} (${baseline.commit.slice(0, 12)})`;
    out.push('', `${label}:`, ...rowTable(baseRows), '');
    for (const v of baseVerdicts) out.push(`${v.pass ? 'PASS' : 'FAIL'}  ${v.target}: ${v.measured}`);
    out.push('', ...comparison(rows, baseRows, `baseline ${baseline.ref}`));
  }
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
  if (flags.json) {
    const doc = {
      machine: machine(),
      rows,
      verdicts,
      ...(baseline
        ? { baseline: { ref: baseline.ref, commit: baseline.commit, rows: baseRows, verdicts: baseVerdicts } }
        : {}),
    };
    writeFileSync(flags.json, JSON.stringify(doc, null, 2));
  }
  if (!profileDir && !flags.keep) rmSync(dir, { recursive: true, force: true });
  else log(`kept ${dir}`);
  process.exitCode = verdicts.every((v) => v.pass) ? 0 : 1;
}

await runScript('bench', main);
