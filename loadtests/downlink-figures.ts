/**
 * Downlink figures, on loopback (docs/downlink.md §Figures):
 *  1. latency: `POST /publish` → the device's MQTT client receiving it, p50/p99, with `--devices`
 *     connected devices (default 1,000) and `--rate` commands/s (default 100) for `--seconds` (default 20),
 *     open model: command k is due at t0 + k/rate and its latency counts from then (a slow answer delays
 *     nothing that follows). The first `--warmup` seconds (default 2) are discarded. Baseline measured in
 *     the same run: the same devices and rate, each command published by a device over MQTT QoS 1 straight
 *     to the target's topic (the gateway's broker path, which stores that publish as an uplink first).
 *  2. memory: the gateway's RSS with `--queued` (default 10,000) downlinks waiting for offline devices.
 * The gateway runs as its own process (the CLI, dist/), so RSS is its own; this process generates load.
 *   node dist/loadtests/downlink-figures.js [--devices N] [--rate R] [--seconds S] [--queued Q]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { Pool } from 'undici';
import { deviceIdOf } from '../gateway/auth/device-directory.js';
import { startCloudSim } from '../simulators/cloud-sim/index.js';
import { newHistogram } from '../simulators/fleet/histogram.js';
import { scriptFlags } from './lib/args.js';
import { startCli } from './lib/processes.js';
import { procStat } from './sampler.js';
import { writeLoopbackConfig } from './stack.js';

const SECRET = 'figures-secret-0123456789';

const FLAGS = {
  devices: { kind: 'number', default: 1_000, min: 1, integer: true, help: 'connected devices' },
  rate: { kind: 'number', default: 100, min: 0.1, help: 'downlink commands/s (open model)' },
  seconds: { kind: 'number', default: 20, min: 1, help: 'measured seconds' },
  warmup: { kind: 'number', default: 2, min: 0, help: 'warm-up seconds discarded' },
  queued: {
    kind: 'number',
    default: 10_000,
    min: 0,
    integer: true,
    help: 'downlinks queued for offline devices (memory)',
  },
} as const;

const token = (i: number) => `figures-device-${i}`;
const topicOf = (i: number) => `devices/device-${deviceIdOf(token(i)).slice(0, 8)}/cmd`;

async function connectAll(url: string, n: number, onMessage: (i: number, payload: string) => void) {
  const clients: mqtt.MqttClient[] = [];
  for (let start = 0; start < n; start += 100) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(100, n - start) }, async (_, j) => {
        const i = start + j;
        const c = await mqtt.connectAsync(url, {
          username: 'Token',
          password: token(i),
          protocolVersion: 4,
          reconnectPeriod: 0,
          clientId: `figures-${i}`,
        });
        c.on('message', (_t, p) => onMessage(i, p.toString('utf8')));
        await c.subscribeAsync(topicOf(i), { qos: 1 });
        return c;
      }),
    );
    clients.push(...batch);
  }
  return clients;
}

interface Phase {
  p50: number;
  p99: number;
  max: number;
  sent: number;
  received: number;
}

/** Open model: command k due at t0 + k/rate; `send` fires it; receipt is matched by its payload. */
async function runPhase(
  rate: number,
  seconds: number,
  warmupS: number,
  devices: number,
  send: (k: number, device: number, payload: string) => void,
  received: Map<string, number>,
): Promise<Phase> {
  const total = Math.round(rate * seconds);
  const due = new Map<string, number>();
  const t0 = performance.now() + 100;
  for (let k = 0; k < total; k++) {
    const at = t0 + (k * 1000) / rate;
    const wait = at - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const payload = `cmd-${k}-${Math.random().toString(36).slice(2, 8)}`;
    due.set(payload, at);
    send(k, k % devices, payload);
  }
  const deadline = performance.now() + 10_000;
  while (performance.now() < deadline && [...due.keys()].some((p) => !received.has(p))) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const h = newHistogram();
  let got = 0;
  for (const [payload, at] of due) {
    const r = received.get(payload);
    if (r === undefined) continue;
    got++;
    if (at - t0 >= warmupS * 1000) h.recordValue(Math.max(1, Math.round((r - at) * 1000)));
  }
  const ms = (q: number) => h.getValueAtPercentile(q) / 1000;
  return { p50: ms(50), p99: ms(99), max: h.maxValue / 1000, sent: total, received: got };
}

async function main(): Promise<void> {
  const { devices, rate, seconds, warmup, queued } = scriptFlags('downlink-figures', FLAGS);
  const dir = mkdtempSync(join(tmpdir(), 'tago-edge-downlink-figures-'));
  const sim = await startCloudSim({ port: 0, quiet: true });
  const configFile = writeLoopbackConfig(dir, sim.url, 15_000, {
    downlink: { port: 0, host: '127.0.0.1', secret: SECRET, maxQueued: Math.max(100_000, queued * 2) },
    mqtt: { maxConnections: devices + 100 },
  });
  const gw = await startCli('gateway', ['gateway', '--config', configFile]);
  const line = gw.ports;
  const mqttUrl = `mqtt://127.0.0.1:${line.mqtt}`;
  const pool = new Pool(`http://127.0.0.1:${line.downlink}`, { connections: 16 });
  const post = async (topic: string, message: string) => {
    const res = await pool.request({
      path: '/publish',
      method: 'POST',
      headers: { authorization: SECRET, 'content-type': 'application/json' },
      body: JSON.stringify({ topic, message, qos: 1 }),
    });
    await res.body.dump();
    if (res.statusCode !== 200) throw new Error(`POST /publish: HTTP ${res.statusCode}`);
  };
  try {
    const received = new Map<string, number>();
    const clients = await connectAll(mqttUrl, devices, (_i, p) => {
      if (!received.has(p)) received.set(p, performance.now());
    });
    const idle = procStat(gw.pid);

    const downlink = await runPhase(
      rate,
      seconds,
      warmup,
      devices,
      (_k, d, payload) => {
        post(topicOf(d), payload).catch((e: Error) => console.error(e.message));
      },
      received,
    );
    // Baseline: device (k+1) publishes to device k's topic over MQTT QoS 1.
    const baseline = await runPhase(
      rate,
      seconds,
      warmup,
      devices,
      (_k, d, payload) => {
        const from = clients[(d + 1) % devices] as mqtt.MqttClient;
        from.publish(topicOf(d), payload, { qos: 1 });
      },
      received,
    );
    const loaded = procStat(gw.pid);
    await Promise.all(clients.map((c) => c.endAsync(true)));

    // Memory: `queued` commands for the (now offline) devices.
    await new Promise((r) => setTimeout(r, 1_000));
    const before = procStat(gw.pid);
    const tq = performance.now();
    for (let k = 0; k < queued; k += 64) {
      await Promise.all(
        Array.from({ length: Math.min(64, queued - k) }, (_, j) =>
          post(topicOf((k + j) % devices), `offline-${k + j}`),
        ),
      );
    }
    const postS = (performance.now() - tq) / 1000;
    await new Promise((r) => setTimeout(r, 1_000));
    const after = procStat(gw.pid);

    const mb = (b: number | undefined) => (b === undefined ? 'n/a' : `${(b / 1_048_576).toFixed(1)} MiB`);
    const fmt = (p: Phase) =>
      `p50 ${p.p50.toFixed(1)} ms  p99 ${p.p99.toFixed(1)} ms  max ${p.max.toFixed(1)} ms  (${p.received}/${p.sent} received)`;
    console.log(
      `downlink figures — loopback, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}`,
    );
    console.log(
      `method: ${devices} MQTT.js devices connected, ${rate} commands/s open model for ${seconds} s, first ${warmup} s discarded`,
    );
    console.log(`POST /publish → device receipt: ${fmt(downlink)}`);
    console.log(`baseline, device → device MQTT QoS 1 through the same broker: ${fmt(baseline)}`);
    console.log(
      `ratio downlink/baseline: p50 ${(downlink.p50 / baseline.p50).toFixed(2)}  p99 ${(downlink.p99 / baseline.p99).toFixed(2)}`,
    );
    console.log(
      `gateway RSS: idle with ${devices} devices ${mb(idle?.rssBytes)}, after the runs ${mb(loaded?.rssBytes)}`,
    );
    console.log(
      `gateway RSS with ${queued} downlinks queued for offline devices: ${mb(after?.rssBytes)} (before posting them ${mb(before?.rssBytes)}; posted in ${postS.toFixed(1)} s, ${(queued / postS).toFixed(0)}/s)`,
    );
  } finally {
    await pool.close();
    await gw.stop();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
