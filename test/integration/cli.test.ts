import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli, spawnCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/stack.js';

describe('tago-edge CLI', () => {
  it('`npm start` with no config file starts, writes the listening line, and stops on SIGTERM', async () => {
    const dir = tempDir();
    const p = spawnCli(['start'], {
      command: ['npm'],
      env: { TAGO_EDGE_HTTP_PORT: '0', TAGO_EDGE_MQTT_PORT: '0', TAGO_EDGE_DATA_DIR: dir, TAGO_EDGE_CONFIG: '' },
    });
    const line = await p.waitForEvent('listening', 20_000);
    expect(line.http).toEqual(expect.any(Number));
    expect(line.mqtt).toEqual(expect.any(Number));
    expect(line.http).not.toBe(0);
    const health = await request(`http://127.0.0.1:${line.http}/healthz`);
    expect(health.statusCode).toBe(200);
    await health.body.dump();
    process.kill(-(p.child.pid as number), 'SIGTERM');
    await p.waitForEvent('stopped');
  });

  it('`gateway` exits 0 on SIGTERM', async () => {
    const dir = tempDir();
    const p = spawnCli(['gateway'], {
      env: { TAGO_EDGE_HTTP_PORT: '0', TAGO_EDGE_MQTT_PORT: '0', TAGO_EDGE_DATA_DIR: dir, TAGO_EDGE_CONFIG: '' },
    });
    await p.waitForEvent('listening');
    p.child.kill('SIGTERM');
    expect(await p.exit()).toBe(0);
  });

  it('`gateway` stopped by SIGTERM while it is still starting comes up, then stops and exits 0', async () => {
    // Node catches SIGTERM itself from the start (and re-raises it), so a SIGTERM before our handler dies of
    // it. Our handlers go in before the gateway starts; the one for SIGHUP (which Node does not catch) shows
    // when they are in: bit 0 of SigCgt in /proc. The signal goes then, long before `listening`.
    const dir = tempDir();
    const p = spawnCli(['gateway'], {
      env: { TAGO_EDGE_HTTP_PORT: '0', TAGO_EDGE_MQTT_PORT: '0', TAGO_EDGE_DATA_DIR: dir, TAGO_EDGE_CONFIG: '' },
    });
    const pid = p.child.pid as number;
    const catchesSighup = () => {
      try {
        const m = /SigCgt:\s*([0-9a-f]+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
        return m !== null && (BigInt(`0x${m[1]}`) & 1n) === 1n;
      } catch {
        return false;
      }
    };
    const deadline = Date.now() + 15_000;
    while (!catchesSighup()) {
      if (p.child.exitCode !== null || Date.now() > deadline) throw new Error(`never caught SIGHUP: ${p.stderr()}`);
      await new Promise((r) => setTimeout(r, 2));
    }
    const listeningBefore = p.stdout().includes('"event":"listening"');
    p.child.kill('SIGTERM');
    expect(await p.exit()).toBe(0);
    const events = p
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => (JSON.parse(l) as { event?: string }).event)
      .filter((e) => e === 'listening' || e === 'signal' || e === 'stopped');
    expect(events).toEqual(['listening', 'signal', 'stopped']);
    // What makes this the start-up case (not a stop after start): the signal went before `listening`.
    expect(listeningBefore).toBe(false);
  });

  it('`config check` exits 0 for a valid file and 2 naming the path for an invalid one', async () => {
    const dir = tempDir();
    const good = join(dir, 'good.yaml');
    writeFileSync(good, 'upstream:\n  url: https://api.eu-w1.tago.io\ndevices:\n  - name: a\n    token: t\n');
    const ok = await runCli(['config', 'check', good]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('valid');

    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'upstream:\n  url: nope\n');
    const res = await runCli(['config', 'check', bad]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('upstream.url: Invalid URL');

    const missing = await runCli(['config', 'check', join(dir, 'nope.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read');
  });

  it('a bad config or flag exits 2; --help and --version exit 0', async () => {
    const res = await runCli(['gateway'], { env: { TAGO_EDGE_HTTP_PORT: 'x' } });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('TAGO_EDGE_HTTP_PORT');
    expect((await runCli(['gateway', '--bogus'])).code).toBe(2);
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('gateway');
    for (const cmd of ['gateway', 'cloud-sim', 'simulate', 'loadtest', 'parser', 'queue', 'config']) {
      const h = await runCli([cmd, '--help']);
      expect(h.code, cmd).toBe(0);
    }
    const v = await runCli(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('loads no native addon (store, parser sandbox) until a command that needs one runs', () => {
    // What bin/tago-edge.js loads before parsing argv. The gateway, cloud-sim, fleet, load-test and parser
    // modules load inside their command (measured: 102 -> 61 MB RSS for `--help`, less for every command).
    const script = `await import(${JSON.stringify(join(ROOT, 'dist/cli/main.js'))});
      console.log(JSON.stringify(process.report.getReport().sharedObjects));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    const addons = (JSON.parse(out) as string[]).filter((f) => f.endsWith('.node'));
    expect(addons).toEqual([]);
    // The check can fail: importing the gateway does load them.
    const gw = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `await import(${JSON.stringify(join(ROOT, 'dist/gateway/gateway.js'))});
         console.log(JSON.stringify(process.report.getReport().sharedObjects));`,
      ],
      { encoding: 'utf8' },
    );
    const gwAddons = (JSON.parse(gw) as string[]).filter((f) => f.endsWith('.node')).map((f) => f.split('/').pop());
    expect(gwAddons).toContain('isolated_vm.node');
  });
});
