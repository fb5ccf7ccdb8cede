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
  p99Ms: number;
  p50Ms: number | undefined;
  requestsPerSec: number | undefined;
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

/** `99% in 0.0123 secs` → 12.3 ms. */
export function parseHey(out: string): CrossCheck | undefined {
  const p = (q: string) => {
    const m = new RegExp(`\\b${q}% in ([0-9.]+) secs`).exec(out);
    return m ? Number(m[1]) * 1000 : undefined;
  };
  const p99 = p('99');
  if (p99 === undefined) return undefined;
  const rps = /Requests\/sec:\s+([0-9.]+)/.exec(out);
  return { tool: 'hey', p99Ms: p99, p50Ms: p('50'), requestsPerSec: rps ? Number(rps[1]) : undefined };
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** wrk --latency: `99%   12.34ms`. */
export function parseWrk(out: string): CrossCheck | undefined {
  const p = (q: string) => {
    const m = new RegExp(`^\\s*${q}%\\s+([0-9.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    return m ? Number(m[1]) * UNIT_MS[m[2]!]! : undefined;
  };
  const p99 = p('99');
  if (p99 === undefined) return undefined;
  const rps = /Requests\/sec:\s+([0-9.]+)/.exec(out);
  return { tool: 'wrk', p99Ms: p99, p50Ms: p('50'), requestsPerSec: rps ? Number(rps[1]) : undefined };
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

/**
 * wrk first (its Lua script rotates tokens exactly as the ladder does); hey when wrk is missing (hey sends
 * one token, so every request is the same device).
 */
export async function crossCheck(
  url: string,
  connections: number,
  durationSec: number,
  tokens: readonly string[],
  body: string,
): Promise<CrossCheck | { error: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tago-edge-wrk-'));
  let wrkCode: number | null = null;
  try {
    const script = join(dir, 'post.lua');
    writeFileSync(script, wrkScript(tokens.slice(0, 500), body));
    const threads = Math.min(2, connections);
    const wrk = await run(
      'wrk',
      ['-t', String(threads), '-c', String(connections), '-d', `${durationSec}s`, '--latency', '-s', script, url],
      (durationSec + 30) * 1000,
    );
    wrkCode = wrk.code;
    const fromWrk = wrk.code === 0 ? parseWrk(wrk.out) : undefined;
    if (fromWrk) return fromWrk;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const hey = await run(
    'hey',
    [
      '-z',
      `${durationSec}s`,
      '-c',
      String(connections),
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
    (durationSec + 30) * 1000,
  );
  const fromHey = hey.code === 0 ? parseHey(hey.out) : undefined;
  if (fromHey) return fromHey;
  return { error: `neither wrk nor hey produced a p99 (wrk exit ${wrkCode}, hey exit ${hey.code})` };
}
