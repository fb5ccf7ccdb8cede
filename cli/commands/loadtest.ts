/**
 * `tago-edge loadtest`: the go-live gate (docs/loadtest.md). Exit 0 when every SLO holds, 1 when one
 * breaks (or the run fails), 2 on a usage error naming the flag.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_SCENARIOS, SCENARIOS, type ScenarioName } from '../../loadtests/scenarios/context.js';
import { loadSlos } from '../../loadtests/slo.js';
import { verdictTable } from '../../loadtests/verdict.js';
import { readTokensFile } from '../../simulators/fleet/tokens.js';
import { UsageError } from '../usage-error.js';

interface Flags {
  scenario?: string[];
  duration?: string;
  quick?: boolean;
  speedup: string;
  reportDir: string;
  slo?: string;
  targetHttp?: string;
  targetMqtt?: string;
  tokens?: string;
  readUrl?: string;
  memoryLimitMb: string;
  outageWindow?: string;
  upstreamRpm: string;
  json?: boolean;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `500ms`, `10s`, `30m`, `1h`, or a bare number of seconds. */
export function parseDuration(flag: string, raw: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(raw);
  const ms = m ? Number(m[1]) * UNITS[m[2] ?? 's']! : Number.NaN;
  if (!(ms > 0)) throw new UsageError(`${flag}: expected a duration like 90s, 30m or 1h, got ${JSON.stringify(raw)}`);
  return Math.round(ms);
}

function positiveNumber(flag: string, raw: string, int = false): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n <= 0 || (int && !Number.isInteger(n))) {
    throw new UsageError(`${flag}: expected ${int ? 'an integer' : 'a number'} > 0, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function url(flag: string, raw: string | undefined, schemes: string[]): string | undefined {
  if (raw === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`${flag}: invalid URL ${JSON.stringify(raw)}`);
  }
  if (!schemes.includes(u.protocol.slice(0, -1))) {
    throw new UsageError(`${flag}: expected a ${schemes.join('/')} URL, got ${JSON.stringify(raw)}`);
  }
  return raw.replace(/\/+$/, '');
}

function scenarios(list: string[]): ScenarioName[] {
  if (list.length === 0) return [...DEFAULT_SCENARIOS];
  const out: ScenarioName[] = [];
  for (const s of list.flatMap((x) => x.split(','))) {
    if (!(SCENARIOS as readonly string[]).includes(s)) {
      throw new UsageError(`--scenario: unknown scenario ${JSON.stringify(s)} (known: ${SCENARIOS.join(', ')})`);
    }
    if (!out.includes(s as ScenarioName)) out.push(s as ScenarioName);
  }
  return out;
}

export function registerLoadtest(program: Command): void {
  program
    .command('loadtest')
    .description('the go-live gate: load a local stack (or a running deployment), judge the SLOs, write a report')
    .option(
      '-s, --scenario <name>',
      `scenario to run, repeatable (${SCENARIOS.join(', ')}; default: ${DEFAULT_SCENARIOS.join(', ')})`,
      (v: string, acc: string[] | undefined) => [...(acc ?? []), v],
    )
    .option('-d, --duration <time>', 'main phase of sizing and soak, e.g. 60s, 30m (default: sizing 30s, soak 30m)')
    .option('-q, --quick', 'short steps everywhere (a smoke run of ~2 min, most of it the outage drain)')
    .option('--speedup <n>', 'time compression of the simulated day (×100: 100,000 points/day → ~116 points/s)', '100')
    .option('-o, --report-dir <dir>', 'where report.json and report.html go', 'loadtest-report')
    .option('--slo <file>', 'JSON or YAML file overriding SLO targets (see docs/loadtest.md)')
    .option('--target-http <url>', "a running gateway's HTTP base URL: start nothing locally")
    .option('--target-mqtt <url>', "a running gateway's MQTT URL (mqtt://, mqtts://, ws://, wss://)")
    .option('--tokens <file>', 'device tokens to use, one per line or a JSON array (default: seeded tokens)')
    .option(
      '--read-url <url>',
      'TagoIO-compatible GET /data base URL, read with the device tokens, to count loss remotely',
    )
    .option('--memory-limit-mb <n>', 'memory the gateway may use; the SLO is a % of it', '512')
    .option('--outage-window <time>', 'how long the upstream is down in `outage` (default 20s; --quick 5s)')
    .option('--upstream-rpm <n>', 'local stack: gateway upstream.requestsPerMinute (TagoIO Scale = 15000)', '15000')
    .option('--json', 'print report.json on stdout instead of the verdict table')
    .addHelpText(
      'after',
      `
Scenarios:
  http-ladder  autocannon at 10, 25, 50, 100 connections on POST /data (p50/p99/p99.9, success, errors);
               the 50-connection p99 is cross-checked with hey (or wrk)
  sizing       500 devices, 100,000 points/day ×speedup, half MQTT QoS 1 half HTTP: latency from the
               schedule, loss (exact, by sequence number), duplicates, gateway CPU and memory
  headroom     the sizing mix at ×1, ×2, ×4 … until an SLO breaks; reports the ratio to the sizing target
  outage       upstream down for --outage-window under load: zero loss, and the drain time after
  soak         (opt-in) sizing load for --duration (default 30m): memory and latency drift

Default SLOs (SPEC.md): p99 < 2000 ms (HTTP response, MQTT publish-to-PUBACK), success >= 99.9 %,
error rate < 1 %, acknowledged points lost = 0, gateway CPU < 70 % avg, memory < 80 % of the limit.

Exit codes: 0 every SLO holds; 1 an SLO breaks or the run failed; 2 usage error.

Examples:
  npm run loadtest                                   # local stack, default scenarios, ~3 min
  tago-edge loadtest --quick --scenario sizing
  tago-edge loadtest --target-http https://edge.staging:8080 --target-mqtt mqtt://edge.staging:1883 \\
    --tokens tokens.txt --read-url https://api.us-e1.tago.io`,
    )
    .action(async (flags: Flags) => {
      const targetHttp = url('--target-http', flags.targetHttp, ['http', 'https']);
      const targetMqtt = url('--target-mqtt', flags.targetMqtt, ['mqtt', 'mqtts', 'ws', 'wss']);
      const readUrl = url('--read-url', flags.readUrl, ['http', 'https']);
      const remote = targetHttp !== undefined || targetMqtt !== undefined;
      if (!remote && readUrl !== undefined)
        throw new UsageError('--read-url: only with --target-http or --target-mqtt');
      let tokens: string[] | undefined;
      if (flags.tokens !== undefined) {
        try {
          tokens = readTokensFile(flags.tokens);
        } catch (err) {
          throw new UsageError(`--tokens: cannot read ${flags.tokens}: ${(err as Error).message}`);
        }
        if (tokens.length === 0) throw new UsageError(`--tokens: ${flags.tokens} holds no token`);
      }
      const list = scenarios(flags.scenario ?? []);
      const durationMs = flags.duration === undefined ? undefined : parseDuration('--duration', flags.duration);
      const options = {
        scenarios: list,
        slos: loadSlos(flags.slo),
        reportDir: resolve(flags.reportDir),
        quick: flags.quick === true,
        speedup: positiveNumber('--speedup', flags.speedup),
        durationMs,
        memoryLimitMb: positiveNumber('--memory-limit-mb', flags.memoryLimitMb),
        outageWindowMs:
          flags.outageWindow === undefined
            ? flags.quick
              ? 5_000
              : 20_000
            : parseDuration('--outage-window', flags.outageWindow),
        upstreamRpm: positiveNumber('--upstream-rpm', flags.upstreamRpm, true),
        targetHttp,
        targetMqtt,
        tokens,
        readUrl,
      };
      const stop = () => process.exit(130);
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const { runGate } = await import('../../loadtests/gate.js');
      const { report, files } = await runGate(options);
      if (flags.json) process.stdout.write(`${JSON.stringify(report)}\n`);
      else {
        process.stdout.write(`\n${verdictTable(report.verdict)}\n`);
        for (const n of report.notes) process.stdout.write(`note: ${n}\n`);
      }
      process.stderr.write(`report: ${files.json}\n        ${files.html}\n`);
      // Exit explicitly: a lingering socket in a client library must not hold the verdict.
      process.exit(report.verdict.pass ? 0 : 1);
    });
}
