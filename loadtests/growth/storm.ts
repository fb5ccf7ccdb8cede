/**
 * Reconnect storm curve: N devices (1k, 5k, 20k; 50k with --growth-full) with persistent sessions (clean-session
 * false) all reconnecting at once, as after a gateway restart or a network blip, at each size twice: with
 * nothing queued for them, and with COMMANDS downlink commands queued for each while it was away (posted to
 * the gateway's `POST /publish` before the storm; each device had subscribed to its command topic at QoS 1).
 * Measured: the time from the first reconnect until every device's first QoS 1 publish is PUBACKed and every
 * queued command has arrived, CONNACK latency p50/p99 (from the socket's creation), refusals and failures. The gateway runs in registry
 * mode (every token checked) with the default limits (limits.authFailuresPerMinute 5 per address,
 * uploadsPerMinute unlimited): honest devices, many behind one address, must all get in.
 */
import { request } from 'undici';
import { rssMb } from '../lib/processes.js';
import { loopbackAlias } from '../lib/raw-mqtt.js';
import { fmt, type GrowthContext, gatewayConfig, sizes, subdir } from './context.js';
import { commandTopic } from './mqtt-worker-topics.js';
import { fitFdLimit, splitJobs, startWorker, withGateway } from './procs.js';
import type { Curve } from './report.js';

/** Two generator processes per storm: the machine has two cores, shared with the gateway. */
const WORKERS = 2;
/** Commands queued per device for the storm with a downlink backlog. */
const COMMANDS = 2;
const SECRET = 'growth-storm-downlink-secret';
/** Concurrent POST /publish requests while the commands are queued. */
const POSTERS = 32;

/** Queues COMMANDS commands for each of devices first … first+n-1 (QoS 1, on its command topic). */
async function queueCommands(port: number, first: number, n: number): Promise<void> {
  let next = 0;
  const total = n * COMMANDS;
  await Promise.all(
    Array.from({ length: POSTERS }, async () => {
      for (let k = next++; k < total; k = next++) {
        const device = first + (k % n);
        const res = await request(`http://127.0.0.1:${port}/publish`, {
          method: 'POST',
          headers: { authorization: SECRET, 'content-type': 'application/json' },
          body: JSON.stringify({ topic: commandTopic('storm', device), message: `command ${k}`, qos: 1 }),
        });
        const text = await res.body.text();
        if (res.statusCode !== 200) throw new Error(`storm: POST /publish answered ${res.statusCode}: ${text}`);
      }
    }),
  );
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

export async function stormCurve(ctx: GrowthContext): Promise<Curve> {
  const fit = fitFdLimit(sizes(ctx, [1_000, 5_000, 20_000], [50_000]));
  const steps = fit.steps;
  if (fit.note) ctx.log(`storm: ${fit.note}`);
  // Each size twice (no commands, then COMMANDS each), with devices of their own.
  const runs = steps.flatMap((n) => [
    { n, commands: 0 },
    { n, commands: COMMANDS },
  ]);
  const total = runs.reduce((a, r) => a + r.n, 0);
  const dir = subdir(ctx, 'storm');
  const devices = Array.from({ length: total }, (_, i) => ({ name: `storm-${i}`, token: `growth-storm-${i}` }));
  const config = gatewayConfig(ctx, dir, {
    mqtt: { maxConnections: Math.max(...steps) * 2 },
    auth: { mode: 'registry' },
    devices,
    downlink: {
      port: 0,
      host: '127.0.0.1',
      secret: SECRET,
      maxQueued: Math.max(100_000, Math.max(...steps) * COMMANDS * 2),
    },
  });
  const byRun: Array<Curve['rows'][number]> = [];
  let first = 0;
  await withGateway(config, async (gw) => {
    for (const { n, commands } of runs) {
      const jobs = splitJobs(
        {
          mode: 'storm',
          port: Number(gw.ports.mqtt),
          keepAliveS: 60,
          tokenPrefix: 'growth-storm',
          namePrefix: 'storm',
          downlinks: commands,
        },
        first,
        n,
        Math.ceil(n / WORKERS),
        (w) => [loopbackAlias(100 + w * 2), loopbackAlias(101 + w * 2)],
      );
      first += n;
      const workers = jobs.map(startWorker);
      const ready = await Promise.all(workers.map((w) => w.next('ready')));
      const setupFailed = ready.reduce((a, r) => a + Number(r.failed), 0);
      const q0 = performance.now();
      if (commands > 0) await queueCommands(Number(gw.ports.downlink), first - n, n);
      const queueS = (performance.now() - q0) / 1000;
      const results = workers.map((w) => w.next('storm'));
      for (const w of workers) w.send('go');
      const done = await Promise.all(results);
      const startedAt = Math.min(...done.map((d) => Number(d.startedAt)));
      const lastAckAt = Math.max(...done.map((d) => Number(d.lastAckAt)));
      const connack = done.flatMap((d) => d.connackMs as number[]).sort((a, b) => a - b);
      const refused = done.reduce((a, d) => a + Number(d.refused), 0);
      const errors = done.reduce((a, d) => a + Number(d.errors), 0);
      const acked = done.reduce((a, d) => a + Number(d.acked), 0);
      const received = done.reduce((a, d) => a + Number(d.commands), 0);
      const short = done.reduce((a, d) => a + Number(d.short), 0);
      const seconds = (lastAckAt - startedAt) / 1000;
      ctx.log(
        `storm: ${fmt(n)} devices, ${commands} commands each: all back, PUBACKed${commands ? ' and their commands received' : ''} in ${fmt(seconds, 2)} s, ${refused} refused, ${errors} failed${commands ? `, ${fmt(received)} commands received, ${short} devices short (queued in ${fmt(queueS, 1)} s)` : ''}`,
      );
      byRun.push({
        devices: n,
        commands,
        received,
        short,
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
  // One row per size: the storm with nothing queued, and (`…Cmd`) the one with commands queued.
  const rows: Curve['rows'] = steps.map((n) => {
    const none = byRun.find((r) => r.devices === n && r.commands === 0) ?? {};
    const found = byRun.find((r) => r.devices === n && r.commands === COMMANDS) ?? {};
    const cmd = (k: string) => found[k] ?? Number.NaN;
    return {
      ...none,
      commands: COMMANDS,
      allInCmdS: cmd('allInS'),
      connackP99Cmd: cmd('connackP99'),
      acked: Number(none.acked) + Number(cmd('acked')),
      refused: Number(none.refused) + Number(cmd('refused')),
      errors: Number(none.errors) + Number(cmd('errors')),
      setupFailed: Number(none.setupFailed) + Number(cmd('setupFailed')),
      received: cmd('received'),
      short: cmd('short'),
      rssMb: cmd('rssMb'),
    };
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
      { key: 'commands', label: 'commands queued each' },
      { key: 'allInCmdS', label: 'with commands: all in + PUBACKed + commands s', digits: 2 },
      { key: 'connackP99Cmd', label: 'with commands: CONNACK p99 ms', digits: 0 },
      { key: 'acked', label: 'PUBACKed (both storms)' },
      { key: 'refused', label: 'refused' },
      { key: 'errors', label: 'failed' },
      { key: 'received', label: 'commands received' },
      { key: 'short', label: 'devices short of commands' },
      { key: 'setupFailed', label: 'setup failed' },
      { key: 'rssMb', label: 'RSS MB after', digits: 0 },
    ],
    rows,
    charts: [
      {
        title: 'Time until every device is back and PUBACKed',
        yLabel: 's',
        keys: [
          { key: 'allInS', name: 'nothing queued' },
          { key: 'allInCmdS', name: `${COMMANDS} commands queued each` },
        ],
      },
      {
        title: 'CONNACK latency during the storm',
        yLabel: 'ms',
        keys: [
          { key: 'connackP50', name: 'p50' },
          { key: 'connackP99', name: 'p99' },
          { key: 'connackP99Cmd', name: `p99, ${COMMANDS} commands queued each` },
        ],
      },
    ],
    notes: [
      `Registry mode, default limits; each device first connected once with clean-session false and disconnected (a session kept on the broker), then all reconnect in the same instant from ${WORKERS} raw-socket generator processes (two loopback source addresses each), each publishing one QoS 1 record on tago/data/post when accepted.`,
      'CONNACK latency from the socket’s creation (TCP connect included); “all in” from the first reconnect to the last PUBACK.',
      `With commands: the same with other devices, each subscribed to devices/<name>/cmd at QoS 1 before it left, and ${COMMANDS} QoS 1 commands per device posted to the gateway’s POST /publish (the relay contract) while they were away; “all in” then ends at the last of the PUBACKs and the commands, each PUBACKed by the device; “short”: devices still missing a command 120 s after the storm began.`,
      ...(fit.note ? [fit.note] : []),
    ],
  };
}
