/**
 * A second opinion on one ladder step: the same endpoint at the same concurrency, measured by `wrk` (a Lua
 * script rotates the tokens) or `hey` when wrk is missing. Both are closed-loop generators like autocannon, so the p99s
 * should agree; a large disagreement means one of the tools (or the generator host) is the bottleneck.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CrossCheck {
  tool: 'hey' | 'wrk';
  /** Undefined when the tool got no latency sample (every request timed out or failed): never read as 0. */
  p99Ms: number | undefined;
  p50Ms: number | undefined;
  requestsPerSec: number | undefined;
  /** Responses that gave a latency sample. */
  responses: number;
  /** Requests that outlived the tool's timeout: no latency sample. */
  timeouts: number;
  /** Connect/read/write errors and non-2xx/3xx answers. */
  errors: number;
}

/**
 * The tools' per-request timeout. Above the p99 SLO with room: a request slower than the SLO must still give
 * a latency sample (wrk's 2 s default turned a 2.5 s target into timeouts only, and no sample).
 */
export function crossCheckTimeoutSec(latencyP99Ms: number): number {
  return Math.max(10, Math.ceil((latencyP99Ms * 5) / 1000));
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    let out = '';
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch {
      resolve({ code: null, out: '' });
      return;
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('error', () => {
      clearTimeout(timer);
      resolve({ code: null, out });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/**
 * `99% in 0.0123 secs` → 12.3 ms. Answers come from `Status code distribution` (`[200]\t41 responses`),
 * failures from `Error distribution` (`[30]\tGet ...: context deadline exceeded (Client.Timeout ...)`).
 * Undefined when the text is not hey's report.
 */
export function parseHey(out: string): CrossCheck | undefined {
  if (!/^Summary:|\d% in [0-9.]+ secs/m.test(out)) return undefined;
  let responses = 0;
  let errors = 0;
  for (const m of out.matchAll(/^\s*\[(\d{3})\]\s+(\d+) responses/gm)) {
    responses += Number(m[2]);
    if (Number(m[1]) >= 400) errors += Number(m[2]);
  }
  let timeouts = 0;
  const errorSection = out.split(/^Error distribution:/m)[1] ?? '';
  for (const m of errorSection.matchAll(/^\s*\[(\d+)\]\s+(.*)$/gm)) {
    if (/Timeout|deadline exceeded/i.test(m[2]!)) timeouts += Number(m[1]);
    else errors += Number(m[1]);
  }
  const p = (q: string) => {
    const m = new RegExp(`\\b${q}% in ([0-9.]+) secs`).exec(out);
    // hey prints a percentile line only for a sample it has.
    return m ? Number(m[1]) * 1000 : undefined;
  };
  // hey prints no 99 % line below 100 answers; the nearest-rank p99 of fewer than 100 is the slowest.
  const slowest = /Slowest:\s+([0-9.]+) secs/.exec(out);
  const p99 = p('99') ?? (responses > 0 && responses < 100 && slowest ? Number(slowest[1]) * 1000 : undefined);
  const rps = /Requests\/sec:\s+([0-9.]+)/.exec(out);
  return {
    tool: 'hey',
    p99Ms: p99,
    p50Ms: p('50'),
    requestsPerSec: rps ? Number(rps[1]) : undefined,
    responses,
    timeouts,
    errors,
  };
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/**
 * wrk --latency: `99%   12.34ms`. wrk counts a timed-out request in `N requests` and in `Socket errors:
 * ... timeout T` but records no latency for it, and prints `0.00us` percentiles when it recorded none; so
 * the samples are N - T, and with none the percentiles are undefined. Undefined when the text is not wrk's.
 */
export function parseWrk(out: string): CrossCheck | undefined {
  const total = /^\s*(\d+) requests in /m.exec(out);
  if (!total && !/^\s*\d+%\s+[0-9.]+(us|ms|s|m)\s*$/m.test(out)) return undefined;
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const timeouts = sock ? Number(sock[4]) : 0;
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const errors = (sock ? Number(sock[1]) + Number(sock[2]) + Number(sock[3]) : 0) + (non2xx ? Number(non2xx[1]) : 0);
  const responses = total ? Math.max(0, Number(total[1]) - timeouts) : 0;
  const p = (q: string) => {
    const m = new RegExp(`^\\s*${q}%\\s+([0-9.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    return m && (responses > 0 || !total) ? Number(m[1]) * UNIT_MS[m[2]!]! : undefined;
  };
  const rps = /Requests\/sec:\s+([0-9.]+)/.exec(out);
  return {
    tool: 'wrk',
    p99Ms: p('99'),
    p50Ms: p('50'),
    requestsPerSec: rps ? Number(rps[1]) : undefined,
    responses,
    timeouts,
    errors,
  };
}

/** A wrk script that POSTs the body with the device token rotated per request, like the autocannon steps. */
export function wrkScript(tokens: readonly string[], body: string): string {
  const list = tokens.map((t) => JSON.stringify(t)).join(', ');
  return [
    `local tokens = { ${list} }`,
    `local body = ${JSON.stringify(body)}`,
    'local i = 0',
    'request = function()',
    '  i = i + 1',
    '  return wrk.format("POST", "/data", { ["Content-Type"] = "application/json", ["Device-Token"] = tokens[(i % #tokens) + 1] }, body)',
    'end',
    '',
  ].join('\n');
}

export interface CrossCheckOptions {
  /** Per-request timeout of the tool, seconds (see crossCheckTimeoutSec). */
  timeoutSec: number;
  /** Which tools to try, in order: wrk first (its Lua script rotates tokens exactly as the ladder does). */
  tools?: readonly ('wrk' | 'hey')[];
}

/**
 * wrk first; hey when wrk is missing or fails (hey sends one token, so every request is the same device).
 * A tool that ran but got no latency sample still answers, with its timeouts and errors and no p99.
 */
export async function crossCheck(
  url: string,
  connections: number,
  durationSec: number,
  tokens: readonly string[],
  body: string,
  options: CrossCheckOptions,
): Promise<CrossCheck | { error: string }> {
  const exits: string[] = [];
  // A request started just before the end may run for the whole timeout before the tool exits.
  const killAfterMs = (durationSec + options.timeoutSec + 30) * 1000;
  for (const tool of options.tools ?? ['wrk', 'hey']) {
    if (tool === 'wrk') {
      const dir = mkdtempSync(join(tmpdir(), 'tago-edge-wrk-'));
      try {
        const script = join(dir, 'post.lua');
        writeFileSync(script, wrkScript(tokens.slice(0, 500), body));
        const threads = Math.min(2, connections);
        const wrk = await run(
          'wrk',
          [
            '-t',
            String(threads),
            '-c',
            String(connections),
            '-d',
            `${durationSec}s`,
            '--timeout',
            `${options.timeoutSec}s`,
            '--latency',
            '-s',
            script,
            url,
          ],
          killAfterMs,
        );
        const fromWrk = wrk.code === 0 ? parseWrk(wrk.out) : undefined;
        if (fromWrk) return fromWrk;
        exits.push(`wrk exit ${wrk.code}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    } else {
      const hey = await run(
        'hey',
        [
          '-z',
          `${durationSec}s`,
          '-c',
          String(connections),
          '-t',
          String(options.timeoutSec),
          '-m',
          'POST',
          '-H',
          `Device-Token: ${tokens[0]}`,
          '-T',
          'application/json',
          '-d',
          body,
          url,
        ],
        killAfterMs,
      );
      const fromHey = hey.code === 0 ? parseHey(hey.out) : undefined;
      if (fromHey) return fromHey;
      exits.push(`hey exit ${hey.code}`);
    }
  }
  return { error: `no cross-check tool produced a report (${exits.join(', ')})` };
}

/** The ladder step's p99 next to the cross-check's, as report.json keeps it. */
export interface Agreement {
  tool: string;
  /** Undefined (absent from JSON) when the tool got no latency sample. */
  p99Ms: number | undefined;
  autocannonP99Ms: number | undefined;
  /** autocannon p99 / tool p99; undefined unless both were measured and the tool's is above 0. */
  ratio: number | undefined;
  requestsPerSec: number | undefined;
  autocannonRequestsPerSec: number;
  responses: number;
  timeouts: number;
  errors: number;
}

const measured = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v);

export function agreementOf(cc: CrossCheck, autocannonP99Ms: number, autocannonRequestsPerSec: number): Agreement {
  const a = measured(autocannonP99Ms) ? autocannonP99Ms : undefined;
  return {
    tool: cc.tool,
    p99Ms: cc.p99Ms,
    autocannonP99Ms: a,
    ratio: a !== undefined && measured(cc.p99Ms) && cc.p99Ms > 0 ? Math.round((a / cc.p99Ms) * 100) / 100 : undefined,
    // Closed loops: the faster generator offers more load and sees a longer queue. The rates say which.
    requestsPerSec: cc.requestsPerSec,
    autocannonRequestsPerSec,
    responses: cc.responses,
    timeouts: cc.timeouts,
    errors: cc.errors,
  };
}

/**
 * One line for the console and the gate's notes. A p99 without a sample reads "not measured", never 0 ms,
 * and there is then no ratio. Accepts report.json's parsed form too (undefined fields are absent there).
 */
export function describeAgreement(a: Partial<Agreement>): string {
  const ms = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? `${v.toFixed(2)} ms` : 'not measured');
  const ratio = typeof a.ratio === 'number' && Number.isFinite(a.ratio) ? `ratio ${a.ratio}` : 'no ratio';
  const seen =
    a.responses === undefined
      ? ''
      : `; ${a.tool} saw ${a.responses} responses, ${a.timeouts ?? 0} timeouts, ${a.errors ?? 0} errors`;
  return `autocannon p99 ${ms(a.autocannonP99Ms)} vs ${a.tool} p99 ${ms(a.p99Ms)} (${ratio}; at ${a.autocannonRequestsPerSec ?? '?'} vs ${a.requestsPerSec ?? '?'} req/s${seen})`;
}
