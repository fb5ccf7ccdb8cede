/**
 * The compiled CLI (`node bin/tago-edge.js simulate …`) and `--workers`, which forks the compiled worker.
 * Builds dist/ once (with --noEmitOnError false, so a colleague's half-written file elsewhere cannot block us).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expandRanges, type FleetSummary, runFleet } from '../../simulators/fleet/index.js';
import { type HttpIngest, startHttpIngest } from './servers.js';

const root = join(import.meta.dirname, '..', '..');

beforeAll(() => {
  try {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'pipe' });
  } catch {
    try {
      execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json', '--noEmitOnError', 'false'], {
        cwd: root,
        stdio: 'pipe',
      });
    } catch {
      // Type errors elsewhere still emit JavaScript; the tests below fail if ours did not.
    }
  }
}, 120_000);

let server: HttpIngest | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function cli(args: string[]) {
  const child = spawn(process.execPath, ['bin/tago-edge.js', 'simulate', ...args], { cwd: root });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, exit, out: () => stdout, err: () => stderr };
}

describe('tago-edge simulate (compiled CLI)', () => {
  it('--workers 2: shard summaries add up, histograms merged', async () => {
    server = await startHttpIngest();
    const s = await runFleet({
      protocol: 'http',
      targetHttp: server.url,
      devices: 11,
      ratePerSec: 550,
      count: 6,
      workers: 2,
    });
    expect(s.options.workers).toBe(2);
    expect(s.counts).toMatchObject({ scheduled: 66, sent: 66, acked: 66, errors: 0, unacked: 0 });
    expect(s.latencyMs.fromSchedule.count).toBe(66);
    expect(s.schedulingLagMs.count).toBe(66);
    expect(Object.keys(s.acked).sort()).toEqual(Array.from({ length: 11 }, (_, i) => `sim-1-${i}`).sort());
    let received = 0;
    for (const [device, ranges] of Object.entries(s.acked)) {
      expect(ranges).toEqual([[0, 5]]);
      expect([...(server.received.get(device) ?? [])].sort()).toEqual(expandRanges(ranges));
      received += server.received.get(device)?.length ?? 0;
    }
    expect(received).toBe(66);
  });

  it('prints the summary with --json and writes --summary and --acks files', async () => {
    server = await startHttpIngest();
    const dir = mkdtempSync(join(tmpdir(), 'sim-cli-'));
    const run = cli([
      '--target-http',
      server.url,
      '--devices',
      '4',
      '--rate',
      '200',
      '--count',
      '3',
      '--json',
      '--summary',
      join(dir, 's.json'),
      '--acks',
      join(dir, 'acks.json'),
      '--no-progress',
    ]);
    expect(await run.exit).toBe(0);
    const printed = JSON.parse(run.out()) as FleetSummary & { ackedFile: string };
    expect(printed.counts.acked).toBe(12);
    expect(printed.ackedFile).toBe(join(dir, 'acks.json'));
    expect(JSON.parse(readFileSync(join(dir, 's.json'), 'utf8'))).toEqual(printed);
    expect(JSON.parse(readFileSync(join(dir, 'acks.json'), 'utf8'))['sim-1-3']).toEqual([[0, 2]]);
  });

  it('SIGINT stops cleanly and still writes the summary', async () => {
    server = await startHttpIngest();
    const file = join(mkdtempSync(join(tmpdir(), 'sim-cli-')), 'summary.json');
    const run = cli([
      '--target-http',
      server.url,
      '--devices',
      '5',
      '--rate',
      '100',
      '--summary',
      file,
      '--progress-interval',
      '200ms',
    ]);
    await new Promise((r) => setTimeout(r, 1_500));
    run.child.kill('SIGINT');
    expect(await run.exit).toBe(0);
    const s = JSON.parse(readFileSync(file, 'utf8')) as FleetSummary;
    expect(s.counts.scheduled).toBeGreaterThan(50);
    expect(s.counts.acked + s.counts.unacked + s.counts.errors).toBe(s.counts.scheduled);
    expect(run.err()).toMatch(/sent \d+ acked \d+/); // progress lines (not a TTY: plain lines)
  });

  it('exits 2 on a usage error, naming the flag', async () => {
    const run = cli(['--target-http', 'http://127.0.0.1:1', '--duration', 'forever']);
    expect(await run.exit).toBe(2);
    expect(run.err()).toMatch(/--duration/);
    const bad = cli(['--target-http', 'http://127.0.0.1:1', '--bad-ratio', '3']);
    expect(await bad.exit).toBe(2);
    expect(bad.err()).toMatch(/badRatio/);
  });
});
