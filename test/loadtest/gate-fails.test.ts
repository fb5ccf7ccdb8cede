/**
 * The gate must be able to fail: a slow gateway and a lossy one each turn it red (exit 1, the right SLO
 * marked failed). Both run the real CLI against a fake gateway on an ephemeral port.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Report } from '../../loadtests/report/report.js';
import { startCloudSim } from '../../simulators/cloud-sim/index.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/stack.js';
import { startFakeGateway } from './fake-gateway.js';

function readReport(dir: string): Report {
  return JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as Report;
}

describe('loadtest gate fails when an SLO breaks', () => {
  it('a gateway answering after 2.5 s fails the latency SLO (exit 1)', { timeout: 90_000 }, async () => {
    const fake = await startFakeGateway(2_500);
    const dir = tempDir('tago-edge-lt-slow-');
    const r = await runCli([
      'loadtest',
      '--quick',
      '--scenario',
      'http-ladder',
      '--target-http',
      fake.url,
      '--report-dir',
      dir,
    ]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toContain('VERDICT: FAIL');
    const report = readReport(dir);
    const p99 = report.verdict.checks.filter((c) => c.slo === 'HTTP response p99');
    expect(p99).toHaveLength(4);
    for (const c of p99) {
      expect(c.status).toBe('fail');
      if (c.value !== undefined) expect(c.value).toBeGreaterThanOrEqual(2_400);
    }
    expect(fake.requests()).toBeGreaterThan(0);
  });

  it('a gateway that acknowledges but never forwards fails the loss SLO (exit 1)', { timeout: 90_000 }, async () => {
    const fake = await startFakeGateway(0);
    const sim = await startCloudSim({ port: 0, quiet: true });
    const dir = tempDir('tago-edge-lt-lossy-');
    const r = await runCli([
      'loadtest',
      '--quick',
      '--scenario',
      'sizing',
      '--target-http',
      fake.url,
      '--read-url',
      sim.url,
      '--report-dir',
      dir,
    ]);
    await sim.close();
    expect(r.code, r.stderr).toBe(1);
    const report = readReport(dir);
    const loss = report.verdict.checks.find((c) => c.slo === 'acknowledged points lost');
    expect(loss?.status).toBe('fail');
    expect(loss?.value).toBeGreaterThan(0);
    // Everything else about this fake is fast and successful: only loss turned the gate red.
    const latency = report.verdict.checks.find((c) => c.slo === 'HTTP response p99');
    expect(latency?.status).toBe('pass');
    // Remote target without /metrics: CPU and memory are "not measured", never guessed.
    const cpu = report.verdict.checks.find((c) => c.slo === 'gateway CPU (average)');
    expect(cpu?.status).toBe('not-measured');
  });

  it('usage errors exit 2 naming the flag', async () => {
    const bad = await runCli(['loadtest', '--scenario', 'nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--scenario');
    const readOnly = await runCli(['loadtest', '--read-url', 'http://127.0.0.1:1']);
    expect(readOnly.code).toBe(2);
    expect(readOnly.stderr).toContain('--read-url');
    const dur = await runCli(['loadtest', '--duration', 'soon']);
    expect(dur.code).toBe(2);
    expect(dur.stderr).toContain('--duration');
  });
});
