/**
 * Floor for the cluster phase: a bare JetStream publish-ack loop, what the gateway's `store.engine: jetstream`
 * append costs with nothing of the gateway around it. The stream is the one the gateway makes
 * (gateway/store/jetstream/provision.ts `provision`: work queue, file storage, the configured replicas, the
 * duplicate window), under its own prefix so the gateway's forwarders never read it; each message is what the
 * gateway publishes for a one-record append: the record's JSON (the store's row packing), its subject
 * `<prefix>.points.<partition>.<device id>`, the key/points/appended headers and a unique Nats-Msg-Id.
 *
 * Shape: `lanes` logical clients (an MQTT connection or an HTTP connection of the generator, one device each)
 * keeping `window` publishes outstanding each, the next sent on each publish ack: the MQTT closed window
 * (lanes = connections, window = --window) or autocannon's 100 connections (window 1), over one NATS
 * connection as the gateway has. Latency publish → ack in an HdrHistogram; only acks inside the measured
 * window count. The stream is purged before and after a run, so each starts from the same empty stream.
 *
 * Runs in a fresh Node process (`jetstreamFloorInChild`), like the HTTP generator: the bench process has
 * driven hundreds of MQTT.js clients by then. Options over stdin, the window's edges and the result as JSON
 * lines on stdout.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { deviceIdOf } from '../../gateway/auth/device-directory.js';
import { parseConfig } from '../../gateway/config/load.js';
import { connectCluster } from '../../gateway/store/jetstream/connect.js';
import {
  APPENDED_HEADER,
  clusterNames,
  encodeKey,
  KEY_HEADER,
  POINTS_HEADER,
  partitionOf,
} from '../../gateway/store/jetstream/names.js';
import { provision } from '../../gateway/store/jetstream/provision.js';
import { DEFAULT_ROW_MAX_BYTES, packRows } from '../../gateway/store/sqlite/row-packing.js';
import { summarize as latency, newHistogram, recordMs } from '../../simulators/fleet/histogram.js';

export interface FloorOptions {
  servers: string[];
  replicas: number;
  /** `store.jetstream.prefix` of the floor's stream (not the gateway's). */
  prefix: string;
  lanes: number;
  window: number;
  warmupMs: number;
  durationMs: number;
  /** The one record each message carries (the generator's payload). */
  record: unknown;
  /** Lane i's device token (its subject and key header). */
  tokenPrefix: string;
}

export interface FloorResult {
  msgsPerSec: number;
  pointsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  acked: number;
  errors: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function jetstreamFloor(
  o: FloorOptions,
  onWindow?: (edge: 'start' | 'end') => void,
): Promise<FloorResult> {
  // The schema's defaults for everything not given (partitions, ackTimeoutMs, maxAgeMs…), as a gateway has them.
  const config = parseConfig({
    store: { engine: 'jetstream', jetstream: { servers: o.servers, replicas: o.replicas, prefix: o.prefix } },
  });
  const js0 = config.store.jetstream;
  const nc = await connectCluster(js0, 'tago-edge bench jetstream floor');
  try {
    const jsm = await jetstreamManager(nc, { timeout: js0.ackTimeoutMs });
    const names = clusterNames(js0.prefix);
    await provision(jsm, names, js0, config.store.maxBytes);
    await jsm.streams.purge(names.stream);
    const js = jetstream(nc, { timeout: js0.ackTimeoutMs });
    const { rows } = packRows([o.record], DEFAULT_ROW_MAX_BYTES);
    const text = (rows[0] as { text: string }).text;
    const boot = randomUUID().slice(0, 8);
    const lanes = Array.from({ length: o.lanes }, (_, i) => {
      const token = `${o.tokenPrefix}${i}`;
      const id = deviceIdOf(token);
      return { subject: names.subjectOf(partitionOf(id, js0.partitions), id), key: encodeKey(token) };
    });

    const h = newHistogram();
    const t0 = performance.now();
    const start = t0 + o.warmupMs;
    const end = start + o.durationMs;
    setTimeout(() => onWindow?.('start'), o.warmupMs);
    setTimeout(() => onWindow?.('end'), o.warmupMs + o.durationMs);
    let running = true;
    let acked = 0;
    let errors = 0;
    let outstanding = 0;
    let seq = 0;
    const send = (lane: (typeof lanes)[number]): void => {
      const hd = headers();
      hd.set(KEY_HEADER, lane.key);
      hd.set(POINTS_HEADER, '1');
      hd.set(APPENDED_HEADER, String(Date.now()));
      const sentAt = performance.now();
      outstanding++;
      js.publish(lane.subject, text, { msgID: `floor.${boot}.${++seq}`, headers: hd }).then(
        () => {
          outstanding--;
          const now = performance.now();
          if (sentAt >= start && now <= end) {
            acked++;
            recordMs(h, now - sentAt);
          } else if (now > start && now <= end) acked++; // sent in warm-up, acked in the window (as closedWindow)
          if (running) send(lane);
        },
        () => {
          outstanding--;
          errors++;
        },
      );
    };
    for (const lane of lanes) for (let k = 0; k < o.window; k++) send(lane);
    await sleep(end - performance.now());
    running = false;
    const drainUntil = Date.now() + 10_000;
    while (outstanding > 0 && Date.now() < drainUntil) await sleep(20);
    const l = latency(h);
    h.destroy();
    await jsm.streams.purge(names.stream);
    const seconds = o.durationMs / 1000;
    return { msgsPerSec: acked / seconds, pointsPerSec: acked / seconds, p50Ms: l.p50, p99Ms: l.p99, acked, errors };
  } finally {
    await nc.close();
  }
}

/** `jetstreamFloor` in a fresh Node process (this module as its entry point); `onWindow` gets the window's edges. */
export function jetstreamFloorInChild(
  o: FloorOptions,
  onWindow?: (edge: 'start' | 'end', pid: number) => void,
): Promise<FloorResult> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), CHILD_FLAG], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  child.stdin.end(JSON.stringify(o));
  return new Promise((resolve, reject) => {
    let result: FloorResult | undefined;
    createInterface({ input: child.stdout }).on('line', (line) => {
      const msg = JSON.parse(line) as { edge?: 'start' | 'end'; result?: FloorResult };
      if (msg.edge) onWindow?.(msg.edge, child.pid as number);
      if (msg.result) result = msg.result;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (result && code === 0) resolve(result);
      else reject(new Error(`JetStream floor exited ${code} without a result`));
    });
  });
}

const CHILD_FLAG = '--jetstream-floor-child';

if (process.argv[2] === CHILD_FLAG && import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const say = (msg: unknown) => process.stdout.write(`${JSON.stringify(msg)}\n`);
  const result = await jetstreamFloor(JSON.parse(input) as FloorOptions, (edge) => say({ edge }));
  say({ result });
}
