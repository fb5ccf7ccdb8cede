/**
 * Registry size curve: `auth.mode: registry` with 100, 10k and 100k devices in the config file (1M with
 * --growth-full). Per size: start time (spawn → the `listening` line), RSS, and the gateway's CPU per HTTP POST
 * /data (one record; tokens spread evenly over the whole registry), so a lookup that grows with the
 * registry shows up as µs per request. At the largest size, SIGHUP: time until the `reloaded` log line.
 */

import { rssMb } from '../lib/processes.js';
import { fmt, type GrowthContext, gatewayConfig, sizes, sleep, subdir, tokenOf } from './context.js';
import { postLoad, withGateway } from './procs.js';
import type { Curve } from './report.js';

const TOKENS_USED = 500;
const BODY = JSON.stringify({ variable: 'temperature', value: 21.5, unit: 'C' });

/** Resolves with ms from now until a stdout JSON line of the gateway has `event: reloaded`. */
function nextReloaded(child: import('node:child_process').ChildProcess, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => done(new Error(`no "reloaded" line within ${timeoutMs} ms`)), timeoutMs);
    const onData = (d: Buffer | string) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.includes('"event":"reloaded"')) return done(null);
      }
    };
    function done(err: Error | null): void {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      if (err) reject(err);
      else resolve(performance.now() - t0);
    }
    child.stdout?.on('data', onData);
  });
}

export async function registryCurve(ctx: GrowthContext): Promise<Curve> {
  const steps = sizes(ctx, [100, 10_000, 100_000], [1_000_000]);
  const seconds = ctx.full ? 10 : 5;
  const rows: Curve['rows'] = [];
  for (const n of steps) {
    const dir = subdir(ctx, `registry-${n}`);
    const devices = Array.from({ length: n }, (_, i) => ({ name: `device-${i}`, token: tokenOf('reg', i) }));
    const config = gatewayConfig(ctx, dir, { auth: { mode: 'registry' }, devices, log: { level: 'info' } });
    const row = await withGateway(config, async (gw, startS) => {
      await sleep(1_000);
      const rssIdle = rssMb(gw.pid);
      const tokens = Array.from({ length: Math.min(TOKENS_USED, n) }, (_, k) =>
        tokenOf('reg', Math.floor((k * n) / Math.min(TOKENS_USED, n))),
      );
      const r = await postLoad(gw, { seconds, tokens, body: BODY });
      let reloadMs = Number.NaN;
      if (n === Math.max(...steps)) {
        const reloaded = nextReloaded(gw.child, 120_000);
        gw.child.kill('SIGHUP');
        reloadMs = await reloaded;
      }
      ctx.log(
        `registry: ${fmt(n)} devices: start ${fmt(startS, 2)} s, ${fmt(r.reqPerSec)} req/s, ${fmt(r.usPerReq, 1)} µs CPU/req${Number.isNaN(reloadMs) ? '' : `, SIGHUP reload ${fmt(reloadMs)} ms`}`,
      );
      return {
        devices: n,
        startS,
        rssMb: rssIdle,
        rssAfterMb: rssMb(gw.pid),
        reqPerSec: r.reqPerSec,
        usPerReq: r.usPerReq,
        p99: r.p99Ms,
        non2xx: r.non2xx + r.errors,
        reloadMs,
      };
    });
    rows.push(row);
  }
  return {
    name: 'registry',
    title: 'Registry size (auth.mode: registry)',
    xKey: 'devices',
    columns: [
      { key: 'devices', label: 'devices' },
      { key: 'startS', label: 'start s', digits: 2 },
      { key: 'rssMb', label: 'RSS idle MB', digits: 0 },
      { key: 'rssAfterMb', label: 'RSS after load MB', digits: 0 },
      { key: 'reqPerSec', label: 'req/s', digits: 0 },
      { key: 'usPerReq', label: 'CPU µs/req', digits: 1 },
      { key: 'p99', label: 'p99 ms', digits: 1 },
      { key: 'non2xx', label: 'non-2xx' },
      { key: 'reloadMs', label: 'SIGHUP reload ms', digits: 0 },
    ],
    rows,
    charts: [
      { title: 'Start time vs registry size', yLabel: 's', keys: [{ key: 'startS', name: 'spawn → listening' }] },
      { title: 'RSS vs registry size', yLabel: 'MB', keys: [{ key: 'rssMb', name: 'RSS idle' }] },
      { title: 'Gateway CPU per POST /data', yLabel: 'µs', keys: [{ key: 'usPerReq', name: 'CPU µs/req' }] },
    ],
    notes: [
      `Devices listed in the config file (name + a UUID-shaped token); load: autocannon, 50 connections, 1 s warm-up then ${seconds} s, POST /data with one record, ${TOKENS_USED} tokens spread evenly over the registry; CPU µs/req = the gateway's CPU (all threads) in the window / requests answered 2xx.`,
      'SIGHUP reload at the largest size only: from the signal to the gateway’s `reloaded` log line (the file re-read, parsed, validated and the directory swapped).',
    ],
  };
}
