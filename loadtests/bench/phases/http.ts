/**
 * (b) HTTP POST /data: bare node:http vs the shared gateway, 100 connections (autocannon in a fresh child
 * process per measurement); `--repeat` runs alternate the two, and the verdict reads the median ratio.
 */
import { settle, TARGETS, windowMeter } from '../context.js';
import { insideMeter } from '../gateway-inside.js';
import { httpBenchInChild } from '../http-load.js';
import { collector, fmt, median } from '../results.js';
import type { Phase } from './phase.js';

export const httpPhase: Phase = {
  name: 'http',
  about: 'HTTP POST /data req/s and latency: bare node:http vs the gateway, 100 connections',
  sharedGateway: true,
  async run(ctx) {
    const out = collector(ctx.label);
    const { opts } = ctx;
    const gwProc = await ctx.sharedGateway();
    const floorProc = await ctx.startScript('http-floor', 'dist/loadtests/bench/http-floor.js');
    const floorTarget = { url: `http://127.0.0.1:${floorProc.ports.http}`, pid: floorProc.pid };
    const gwTarget = { url: `http://127.0.0.1:${gwProc.ports.http}`, pid: gwProc.pid };
    const tokens = Array.from({ length: 100 }, (_, i) => `bench-http-${i}`);
    const run = { connections: opts.httpConns, warmupSeconds: opts.warmupS, seconds: opts.durationS, tokens };
    const ratios: number[] = [];
    let last = { gw: 0, floor: 0 };
    for (let n = 1; n <= opts.repeat; n++) {
      const section = `http 100c${opts.repeat > 1 ? ` #${n}` : ''}`;
      await settle(gwTarget.url);
      const floorMeter = windowMeter(floorTarget.pid);
      const floor = await httpBenchInChild(floorTarget.url, { ...run, onWindow: floorMeter.onWindow });
      out.addRow({
        section,
        target: 'node:http',
        figure: 'req/s',
        value: floor.reqPerSec,
        unit: 'req/s',
        p50: floor.p50Ms,
        p99: floor.p99Ms,
        ...floorMeter.result(floor.reqPerSec * opts.durationS),
      });
      await settle(gwTarget.url);
      const gwMeter = windowMeter(gwTarget.pid);
      const inside = insideMeter(`${gwTarget.url}/metrics`);
      const gw = await httpBenchInChild(gwTarget.url, {
        ...run,
        onWindow: (edge) => {
          gwMeter.onWindow(edge);
          inside.onWindow(edge);
        },
      });
      const insideView = await inside.result();
      ratios.push(gw.reqPerSec / floor.reqPerSec);
      last = { gw: gw.reqPerSec, floor: floor.reqPerSec };
      out.addRow({
        section,
        target: 'gateway',
        figure: 'req/s',
        value: gw.reqPerSec,
        unit: `req/s${gw.non2xx + gw.errors ? ` (${gw.non2xx} non-2xx, ${gw.errors} errors)` : ''}`,
        p50: gw.p50Ms,
        p99: gw.p99Ms,
        floor: 'node:http',
        ratio: gw.reqPerSec / floor.reqPerSec,
        ...gwMeter.result(gw.reqPerSec * opts.durationS),
        ...(insideView ? { inside: insideView } : {}),
      });
    }
    const ratio = median(ratios);
    out.verdict(
      `HTTP POST /data, 100 conns ≥ ${TARGETS.httpRatio * 100} % of bare node:http`,
      opts.repeat > 1
        ? `median of ${opts.repeat} runs ${fmt(ratio * 100)} % (${ratios.map((r) => fmt(r * 100)).join(', ')} %)`
        : `${fmt(last.gw)} vs ${fmt(last.floor)} req/s = ${fmt(ratio * 100)} %`,
      ratio >= TARGETS.httpRatio,
    );
    await floorProc.stop();
    return out;
  },
};
