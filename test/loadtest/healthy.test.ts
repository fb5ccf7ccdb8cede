/**
 * A quick run of the real gate against the real local stack (cloud-sim and gateway as separate processes)
 * passes, and its HTML report renders in headless Chromium with the verdict and the measured p99 in the DOM.
 * Chromium is required (CI installs it via .ci/run): a missing browser fails the test, it is never skipped.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Report } from '../../loadtests/report/report.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/stack.js';

function chromiumBinary(): string {
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    const r = spawnSync('which', [name], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  throw new Error('chromium not found: install it (apt-get install -y chromium; CI does this in .ci/run)');
}

function chromiumArgs(): string[] {
  return [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    `--user-data-dir=${mkdtempSync(join(tmpdir(), 'tago-edge-chromium-'))}`,
  ];
}

describe('loadtest against the local stack', () => {
  it('a quick healthy run exits 0 and its report renders in Chromium', { timeout: 120_000 }, async () => {
    const browser = chromiumBinary();
    const dir = tempDir('tago-edge-lt-ok-');
    const r = await runCli([
      'loadtest',
      '--quick',
      '--scenario',
      'sizing',
      '--scenario',
      'headroom',
      '--report-dir',
      dir,
    ]);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain('VERDICT: PASS');
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as Report;
    expect(report.verdict.pass).toBe(true);
    const loss = report.verdict.checks.find((c) => c.scenario === 'sizing' && c.slo === 'acknowledged points lost');
    expect(loss).toMatchObject({ status: 'pass', value: 0 });
    const cpu = report.verdict.checks.find((c) => c.slo === 'gateway CPU (average)');
    expect(cpu?.status).toBe('pass');

    const html = join(dir, 'report.html');
    const text = readFileSync(html, 'utf8');
    expect(text).not.toMatch(/<script|<link|https?:\/\/(?!www\.w3\.org)/);
    const url = pathToFileURL(html).href;
    const png = join(dir, 'report.png');
    execFileSync(browser, [...chromiumArgs(), `--screenshot=${png}`, '--window-size=1200,2000', url], {
      stdio: 'ignore',
      timeout: 60_000,
    });
    expect(existsSync(png)).toBe(true);
    expect(statSync(png).size).toBeGreaterThan(20_000);
    const dom = execFileSync(browser, [...chromiumArgs(), '--dump-dom', url], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 60_000,
    });
    expect(dom).toContain('VERDICT: PASS');
    const mqttP99 = report.verdict.checks.find(
      (c) => c.scenario === 'sizing' && c.slo === 'MQTT publish-to-PUBACK p99',
    );
    expect(mqttP99?.measured).toBeTruthy();
    expect(dom).toContain(mqttP99!.measured);
    expect(dom).toContain('<svg');
  });
});
