/**
 * Points-per-message curve: HTTP POST /data with 1, 10 and 100 records per request (1,000 with --growth-full),
 * autocannon (50 connections, 100 device tokens) against one gateway: requests/s, points/s, p99 and the
 * gateway's CPU per point, so the fixed cost of a message is told apart from the cost of a point.
 * --sizes-scale does not apply: the sizes are a message's shape, not a count of things the gateway holds, and
 * a scaled-down run still needs whole messages of 1, 10 and 100 points to tell the two costs apart.
 */

import { fmt, type GrowthContext, gatewayConfig, subdir } from './context.js';
import { postLoad, withGateway } from './procs.js';
import type { Curve } from './report.js';

export async function pointsPerMessageCurve(ctx: GrowthContext): Promise<Curve> {
  const steps = [1, 10, 100, ...(ctx.full ? [1_000] : [])];
  const seconds = ctx.full ? 10 : 5;
  const dir = subdir(ctx, 'points-per-message');
  const config = gatewayConfig(ctx, dir, { store: { sync: 'full' } });
  const rows: Curve['rows'] = [];
  await withGateway(
    config,
    async (gw) => {
      for (const k of steps) {
        const body = JSON.stringify(
          Array.from({ length: k }, (_, i) => ({ variable: `temp_${i}`, value: 21.5 + i, unit: 'C' })),
        );
        const tokens = Array.from({ length: 100 }, (_, i) => `growth-ppm-${i}`);
        const r = await postLoad(gw, { seconds, tokens, body });
        const points = r.reqPerSec * k;
        ctx.log(`points per message: ${k}: ${fmt(r.reqPerSec)} msg/s, ${fmt(points)} points/s`);
        rows.push({
          pointsPerMsg: k,
          msgsPerSec: r.reqPerSec,
          pointsPerSec: points,
          p99: r.p99Ms,
          usPerMsg: r.usPerReq,
          usPerPoint: r.usPerReq / k,
          bodyBytes: body.length,
          non2xx: r.non2xx + r.errors,
        });
      }
    },
    { stopGraceMs: 60_000 },
  );
  return {
    name: 'points-per-message',
    title: 'Points per message (HTTP POST /data)',
    xKey: 'pointsPerMsg',
    columns: [
      { key: 'pointsPerMsg', label: 'points/msg' },
      { key: 'bodyBytes', label: 'body bytes' },
      { key: 'msgsPerSec', label: 'msg/s', digits: 0 },
      { key: 'pointsPerSec', label: 'points/s', digits: 0 },
      { key: 'p99', label: 'p99 ms', digits: 1 },
      { key: 'usPerMsg', label: 'CPU µs/msg', digits: 1 },
      { key: 'usPerPoint', label: 'CPU µs/point', digits: 2 },
      { key: 'non2xx', label: 'non-2xx' },
    ],
    rows,
    charts: [
      {
        title: 'Throughput vs points per message',
        yLabel: 'per second',
        keys: [
          { key: 'msgsPerSec', name: 'msg/s' },
          { key: 'pointsPerSec', name: 'points/s' },
        ],
      },
      { title: 'Gateway CPU per point', yLabel: 'µs', keys: [{ key: 'usPerPoint', name: 'CPU µs/point' }] },
    ],
    notes: [
      `autocannon in a child process, 50 connections, 100 tokens (passthrough), 1 s warm-up then ${seconds} s per size; the gateway with sync full, forwarding to cloud-sim; CPU = the gateway's (all threads) in the window.`,
    ],
  };
}
