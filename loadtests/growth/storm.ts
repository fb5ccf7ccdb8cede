/**
 * Reconnect storm curve: N devices (1k, 5k, 20k; 50k with --growth-full) with persistent sessions (clean-session
 * false) all reconnecting at once, as after a gateway restart or a network blip, with nothing queued for
 * them. Measured: the time from the first reconnect to the last PUBACK of each device's first QoS 1 publish,
 * CONNACK latency p50/p99 (from the socket's creation), refusals and failures. The gateway runs in registry
 * mode (every token checked) with the default limits (limits.authFailuresPerMinute 5 per address,
 * uploadsPerMinute unlimited): honest devices, many behind one address, must all get in.
 */
import { rssMb } from '../lib/processes.js';
import { loopbackAlias } from '../lib/raw-mqtt.js';
import { fmt, type GrowthContext, gatewayConfig, sizes, subdir } from './context.js';
import { fitFdLimit, splitJobs, startWorker, withGateway } from './procs.js';
import type { Curve } from './report.js';

/** Two generator processes per storm: the machine has two cores, shared with the gateway. */
const WORKERS = 2;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

export async function stormCurve(ctx: GrowthContext): Promise<Curve> {
  const fit = fitFdLimit(sizes(ctx, [1_000, 5_000, 20_000], [50_000]));
  const steps = fit.steps;
  if (fit.note) ctx.log(`storm: ${fit.note}`);
  const total = steps.reduce((a, b) => a + b, 0);
  const dir = subdir(ctx, 'storm');
  const devices = Array.from({ length: total }, (_, i) => ({ name: `storm-${i}`, token: `growth-storm-${i}` }));
  const config = gatewayConfig(ctx, dir, {
    mqtt: { maxConnections: Math.max(...steps) * 2 },
    auth: { mode: 'registry' },
    devices,
  });
  const rows: Curve['rows'] = [];
  let first = 0;
  await withGateway(config, async (gw) => {
    for (const n of steps) {
      const jobs = splitJobs(
        { mode: 'storm', port: Number(gw.ports.mqtt), keepAliveS: 60, tokenPrefix: 'growth-storm' },
        first,
        n,
        Math.ceil(n / WORKERS),
        (w) => [loopbackAlias(100 + w * 2), loopbackAlias(101 + w * 2)],
      );
      first += n;
      const workers = jobs.map(startWorker);
      const ready = await Promise.all(workers.map((w) => w.next('ready')));
      const setupFailed = ready.reduce((a, r) => a + Number(r.failed), 0);
      const results = workers.map((w) => w.next('storm'));
      for (const w of workers) w.send('go');
      const done = await Promise.all(results);
      const startedAt = Math.min(...done.map((d) => Number(d.startedAt)));
      const lastAckAt = Math.max(...done.map((d) => Number(d.lastAckAt)));
      const connack = done.flatMap((d) => d.connackMs as number[]).sort((a, b) => a - b);
      const refused = done.reduce((a, d) => a + Number(d.refused), 0);
      const errors = done.reduce((a, d) => a + Number(d.errors), 0);
      const acked = done.reduce((a, d) => a + Number(d.acked), 0);
      const seconds = (lastAckAt - startedAt) / 1000;
      ctx.log(
        `storm: ${fmt(n)} devices back and published in ${fmt(seconds, 2)} s, ${refused} refused, ${errors} failed`,
      );
      rows.push({
        devices: n,
        allInS: seconds,
        perSec: acked / seconds,
        connackP50: percentile(connack, 50),
        connackP99: percentile(connack, 99),
        acked,
        refused,
        errors,
        setupFailed,
        rssMb: rssMb(gw.pid),
      });
      await Promise.all(workers.map((w) => w.stop()));
    }
  });
  return {
    name: 'storm',
    title: 'Reconnect storm (clean-session false, all at once)',
    xKey: 'devices',
    columns: [
      { key: 'devices', label: 'devices' },
      { key: 'allInS', label: 'all in + PUBACKed s', digits: 2 },
      { key: 'perSec', label: 'devices/s', digits: 0 },
      { key: 'connackP50', label: 'CONNACK p50 ms', digits: 0 },
      { key: 'connackP99', label: 'CONNACK p99 ms', digits: 0 },
      { key: 'acked', label: 'PUBACKed' },
      { key: 'refused', label: 'refused' },
      { key: 'errors', label: 'failed' },
      { key: 'setupFailed', label: 'setup failed' },
      { key: 'rssMb', label: 'RSS MB after', digits: 0 },
    ],
    rows,
    charts: [
      {
        title: 'Time until every device is back and PUBACKed',
        yLabel: 's',
        keys: [{ key: 'allInS', name: 'all in' }],
      },
      {
        title: 'CONNACK latency during the storm',
        yLabel: 'ms',
        keys: [
          { key: 'connackP50', name: 'p50' },
          { key: 'connackP99', name: 'p99' },
        ],
      },
    ],
    notes: [
      `Registry mode, default limits; each device first connected once with clean-session false and disconnected (a session kept on the broker), then all reconnect in the same instant from ${WORKERS} raw-socket generator processes (two loopback source addresses each), each publishing one QoS 1 record on tago/data/post when accepted.`,
      'CONNACK latency from the socket’s creation (TCP connect included); “all in” from the first reconnect to the last PUBACK.',
      ...(fit.note ? [fit.note] : []),
    ],
  };
}
