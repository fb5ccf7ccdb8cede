/**
 * Connections curve: the gateway's RSS, RSS per connection and CPU at rest as idle MQTT connections grow
 * (1k, 5k, 20k, 50k; 100k with --growth-full). One gateway; connections added step by step by raw-socket generator
 * processes (at most PER_WORKER each, each worker on its own loopback source address, past one address's
 * ~28k ephemeral ports). Connections keep alive with PINGREQs (keep-alive KEEPALIVE_S): CPU at rest is the
 * gateway's CPU over a window with only that traffic.
 */
import { rssMb } from '../lib/processes.js';
import { loopbackAlias } from '../lib/raw-mqtt.js';
import { cpuWindow, fmt, type GrowthContext, gatewayConfig, sizes, sleep, subdir } from './context.js';
import { childFdLimit, fitFdLimit, splitJobs, startWorker, type Worker, withGateway } from './procs.js';
import type { Curve } from './report.js';

const PER_WORKER = 12_500;
const KEEPALIVE_S = 30;

export async function connectionsCurve(ctx: GrowthContext): Promise<Curve> {
  const fit = fitFdLimit(sizes(ctx, [1_000, 5_000, 20_000, 50_000], [100_000]));
  const steps = fit.steps;
  if (fit.note) ctx.log(`connections: ${fit.note}`);
  const windowS = ctx.full ? 30 : 10;
  const dir = subdir(ctx, 'connections');
  const config = gatewayConfig(ctx, dir, { mqtt: { maxConnections: Math.max(...steps) + 1_000 } });
  const workers: Worker[] = [];
  const rows: Curve['rows'] = [];
  let open = 0;
  let nextAddress = 0;
  await withGateway(config, async (gw) => {
    try {
      await sleep(1_000);
      const base = rssMb(gw.pid);
      const idleCpu = cpuWindow(gw.pid);
      idleCpu.start();
      await sleep(Math.min(windowS, 5) * 1000);
      idleCpu.end();
      rows.push({ conns: 0, rssMb: base, cpuPct: idleCpu.pct() });
      for (const target of steps) {
        const jobs = splitJobs(
          { mode: 'idle', port: Number(gw.ports.mqtt), keepAliveS: KEEPALIVE_S, tokenPrefix: 'growth-idle' },
          open,
          target - open,
          PER_WORKER,
          () => [loopbackAlias(nextAddress++)],
        );
        const t0 = performance.now();
        const started = jobs.map(startWorker);
        workers.push(...started);
        const opened = await Promise.all(started.map((w) => w.next('opened')));
        const openS = (performance.now() - t0) / 1000;
        const failed = opened.reduce((a, o) => a + Number(o.failed), 0);
        open = target;
        ctx.log(`connections: ${fmt(target)} open (${fmt(failed)} failed) in ${fmt(openS, 1)} s`);
        await sleep(3_000);
        const rss = rssMb(gw.pid);
        const cpu = cpuWindow(gw.pid);
        cpu.start();
        await sleep(windowS * 1000);
        cpu.end();
        rows.push({
          conns: target,
          rssMb: rss,
          kbPerConn: ((rss - base) * 1024) / target,
          cpuPct: cpu.pct(),
          cpuPctPer1k: (cpu.pct() - (rows[0]?.cpuPct as number)) / (target / 1000),
          openPerSec: (target - (rows.at(-1)?.conns as number)) / openS,
          failed,
        });
      }
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
  });
  return {
    name: 'connections',
    title: 'Idle MQTT connections: memory and CPU at rest',
    xKey: 'conns',
    columns: [
      { key: 'conns', label: 'connections' },
      { key: 'rssMb', label: 'RSS MB', digits: 0 },
      { key: 'kbPerConn', label: 'kB/conn', digits: 1 },
      { key: 'cpuPct', label: 'CPU % (1 core)', digits: 2 },
      { key: 'cpuPctPer1k', label: 'CPU % per 1k', digits: 3 },
      { key: 'openPerSec', label: 'opened/s', digits: 0 },
      { key: 'failed', label: 'failed' },
    ],
    rows,
    charts: [
      { title: 'Gateway RSS vs idle connections', yLabel: 'MB', keys: [{ key: 'rssMb', name: 'RSS' }] },
      { title: 'RSS per connection', yLabel: 'kB', keys: [{ key: 'kbPerConn', name: 'kB per connection' }] },
      {
        title: `Gateway CPU at rest (keep-alive ${KEEPALIVE_S} s)`,
        yLabel: '% of one core',
        keys: [{ key: 'cpuPct', name: 'CPU %' }],
      },
    ],
    notes: [
      `Raw-socket MQTT 3.1.1 CONNECTs (clean session, keep-alive ${KEEPALIVE_S} s, PINGREQ once per period), ${fmt(PER_WORKER)} per generator process, one loopback source address each; gateway and generators under ulimit -n ${fmt(childFdLimit())}.`,
      `RSS 3 s after the step's last CONNACK; kB/conn = (RSS − RSS with none) / connections; CPU over a ${windowS} s window with keep-alive traffic only; per 1k = (CPU − CPU with none) / thousands of connections.`,
      ...(fit.note ? [fit.note] : []),
    ],
  };
}
