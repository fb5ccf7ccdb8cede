/**
 * Parsers curve: the gateway's RSS and throughput with 1, 20 and 200 distinct parser files in use at once
 * (copies of parsers/examples/hex-sensor.js, one per device model; 500 with --growth-full). The same load at every
 * size: DEVICES MQTT connections, one device each, device i of model i mod M, each publishing the example's
 * 5-byte frame (3 points) with WINDOW QoS 1 publishes outstanding. Each parser file runs in its own isolate
 * (parsers/sandbox/), so RSS per parser is what one isolate costs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  closeFixedFleet as closeClients,
  closedWindow,
  connectFixedFleet as connectClients,
  type FixedMessage as Payload,
} from '../../simulators/fleet/fixed-load.js';
import { projectRoot, rssMb } from '../lib/processes.js';
import { cpuWindow, fmt, type GrowthContext, gatewayConfig, sizes, sleep, subdir } from './context.js';
import { withGateway } from './procs.js';
import type { Curve } from './report.js';

const DEVICES = 200;
const WINDOW = 5;
const FRAME: Payload = { name: 'frame', topic: 'sensors/frame', body: Buffer.from('0e1000eb37', 'hex'), points: 3 };

export async function parsersCurve(ctx: GrowthContext): Promise<Curve> {
  const steps = sizes(ctx, [1, 20, 200], [500]);
  const durationMs = (ctx.full ? 10 : 5) * 1000;
  const source = readFileSync(join(projectRoot(), 'parsers/examples/hex-sensor.js'), 'utf8');
  const rows: Curve['rows'] = [];
  for (const models of steps) {
    const dir = subdir(ctx, `parsers-${models}`);
    const devices = Math.max(DEVICES, models);
    const files = Array.from({ length: models }, (_, m) => {
      const file = join(dir, `model-${m}.js`);
      // A distinct file per model, as a fleet of device models has: its own name and text.
      writeFileSync(file, `// device model ${m}\n${source}`);
      return file;
    });
    const config = gatewayConfig(ctx, dir, {
      auth: { mode: 'registry' },
      devices: Array.from({ length: devices }, (_, i) => ({
        name: `parser-device-${i}`,
        token: `growth-parser-${i}`,
        parser: files[i % models],
        // Registry mode confines a device to tago/data/post and devices/<id|name>/#; the frame topic is granted.
        topics: ['sensors/#'],
      })),
    });
    await withGateway(config, async (gw) => {
      await sleep(1_000);
      const rssStart = rssMb(gw.pid);
      const clients = await connectClients(`mqtt://127.0.0.1:${gw.ports.mqtt}`, devices, (i) => `growth-parser-${i}`);
      const cpu = cpuWindow(gw.pid);
      const r = await closedWindow(clients, FRAME, {
        window: WINDOW,
        warmupMs: 2_000,
        durationMs,
        onWindow: (edge) => (edge === 'start' ? cpu.start() : cpu.end()),
      });
      const rssLoaded = rssMb(gw.pid);
      await closeClients(clients);
      if (!(r.msgsPerSec > 0)) {
        // Zeros in the table would read as a figure; no PUBACK at all means the curve measured nothing.
        throw new Error(
          `parsers: ${models} files: no publish was acknowledged (${r.errors} errors); gateway log: ${gw.stdout().slice(-3_000)} ${gw.stderr().slice(-3_000)}`,
        );
      }
      ctx.log(`parsers: ${models} files: ${fmt(r.msgsPerSec)} msg/s, RSS ${fmt(rssStart)} → ${fmt(rssLoaded)} MB`);
      rows.push({
        parsers: models,
        rssStartMb: rssStart,
        rssMb: rssLoaded,
        msgsPerSec: r.msgsPerSec,
        pointsPerSec: r.pointsPerSec,
        p99: r.p99Ms,
        usPerMsg: (cpu.seconds() * 1e6) / (r.msgsPerSec * (durationMs / 1000)),
        errors: r.errors,
      });
    });
  }
  const one = rows[0];
  for (const row of rows) {
    if (one && row !== one)
      row.mbPerParser =
        ((row.rssMb as number) - (one.rssMb as number)) / ((row.parsers as number) - (one.parsers as number));
  }
  return {
    name: 'parsers',
    title: 'Distinct parser files in use',
    xKey: 'parsers',
    columns: [
      { key: 'parsers', label: 'parser files' },
      { key: 'rssStartMb', label: 'RSS idle MB', digits: 0 },
      { key: 'rssMb', label: 'RSS loaded MB', digits: 0 },
      { key: 'mbPerParser', label: 'MB per extra parser', digits: 2 },
      { key: 'msgsPerSec', label: 'msg/s', digits: 0 },
      { key: 'pointsPerSec', label: 'points/s', digits: 0 },
      { key: 'p99', label: 'p99 ms', digits: 1 },
      { key: 'usPerMsg', label: 'CPU µs/msg', digits: 1 },
      { key: 'errors', label: 'errors' },
    ],
    rows,
    charts: [
      {
        title: 'Gateway RSS vs parser files in use',
        yLabel: 'MB',
        keys: [
          { key: 'rssStartMb', name: 'idle' },
          { key: 'rssMb', name: 'under load' },
        ],
      },
      { title: 'Throughput vs parser files in use', yLabel: 'msg/s', keys: [{ key: 'msgsPerSec', name: 'msg/s' }] },
    ],
    notes: [
      `${DEVICES} MQTT.js connections (or one per model when more), device i uses model i mod M; closed window of ${WINDOW} QoS 1 publishes per connection, 2 s warm-up then ${durationMs / 1000} s; RSS idle 1 s after start, loaded at the end of the window; MB per extra parser = (RSS loaded − RSS loaded with 1) / (M − 1).`,
    ],
  };
}
