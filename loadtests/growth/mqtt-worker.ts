/**
 * A generator process for the connection curves (run by `mqtt-workers.ts`, one job per process, its fd
 * limit raised by the shell that starts it). Jobs, given as JSON in argv[2]:
 * - `idle`: opens `count` connections (clean session, keep-alive `keepAliveS`) and keeps them alive with
 *   PINGREQs spread evenly over each keep-alive period; prints `{"event":"opened",...}`, then stays until
 *   killed.
 * - `storm`: connects `count` devices with clean-session=false and disconnects them (so each has a session
 *   on the broker; with `downlinks` > 0 each subscribes to `devices/<name>/cmd` at QoS 1 first), prints
 *   `{"event":"ready"}`, waits for `go` on stdin, then reconnects them all at once, each publishing one QoS 1
 *   message once accepted and, with `downlinks`, waiting for that many commands queued for it meanwhile
 *   (PUBACKing each); prints `{"event":"storm",...}` when every device is done or has failed, and exits.
 * Connection i uses source address `addresses[i % addresses.length]`.
 */
import { createInterface } from 'node:readline';
import { DISCONNECT, PINGREQ, publishPacket, type RawClient, rawConnect, subscribePacket } from '../lib/raw-mqtt.js';
import { commandTopic } from './mqtt-worker-topics.js';

export interface WorkerJob {
  mode: 'idle' | 'storm';
  port: number;
  first: number;
  count: number;
  addresses: string[];
  keepAliveS: number;
  /** Token (and client id suffix) of device i. */
  tokenPrefix: string;
  /** storm: the registry name of device i is `${namePrefix}-${i}` (its command topic `devices/<name>/cmd`). */
  namePrefix?: string;
  /** storm: commands each device must receive after reconnecting (queued for it while it was away). */
  downlinks?: number;
}

/** How long a reconnected device waits for its queued commands before it counts as short of them. */
const STORM_DEADLINE_MS = 120_000;

const say = (msg: unknown) => process.stdout.write(`${JSON.stringify(msg)}\n`);

function clientFor(job: WorkerJob, i: number, clean: boolean, onMessage?: (topic: string) => void): RawClient {
  const d = job.first + i;
  return rawConnect({
    ...(onMessage ? { onMessage } : {}),
    port: job.port,
    localAddress: job.addresses[i % job.addresses.length] as string,
    clientId: `growth-${job.tokenPrefix}-${d}`,
    token: `${job.tokenPrefix}-${d}`,
    clean,
    keepAliveS: job.keepAliveS,
  });
}

/** Opens connections `batch` at a time; the accepted ones and the count of failures. */
async function openBatched(
  job: WorkerJob,
  clean: boolean,
  subscribe?: (device: number) => string,
  batch = 500,
): Promise<{ ok: RawClient[]; failed: number }> {
  const ok: RawClient[] = [];
  let failed = 0;
  for (let i = 0; i < job.count; i += batch) {
    const pending: Array<Promise<void>> = [];
    for (let j = i; j < Math.min(job.count, i + batch); j++) {
      const c = clientFor(job, j, clean);
      pending.push(
        c.connack.then(
          async (rc) => {
            if (rc !== 0) {
              failed++;
              c.socket.destroy();
              return;
            }
            if (subscribe) {
              c.socket.write(subscribePacket(subscribe(job.first + j), 1, 1));
              await c.puback(1);
            }
            ok.push(c);
          },
          () => {
            failed++;
          },
        ),
      );
    }
    await Promise.all(pending);
  }
  return { ok, failed };
}

async function idle(job: WorkerJob): Promise<void> {
  const t0 = performance.now();
  const { ok, failed } = await openBatched(job, true);
  say({ event: 'opened', opened: ok.length, failed, ms: performance.now() - t0 });
  // One tick a second pings the connections whose slot is due: each is pinged once per keep-alive period.
  let tick = 0;
  const period = Math.max(1, job.keepAliveS - 1);
  setInterval(() => {
    const slot = tick++ % period;
    for (let i = slot; i < ok.length; i += period) ok[i]?.socket.write(PINGREQ);
  }, 1_000);
}

async function storm(job: WorkerJob): Promise<void> {
  const want = job.downlinks ?? 0;
  const names = job.namePrefix ?? job.tokenPrefix;
  const setup = await openBatched(job, false, want > 0 ? (d) => commandTopic(names, d) : undefined);
  for (const c of setup.ok) c.socket.end(DISCONNECT);
  await new Promise((r) => setTimeout(r, 500));
  say({ event: 'ready', sessions: setup.ok.length, failed: setup.failed });
  await new Promise<void>((resolve) => {
    createInterface({ input: process.stdin }).on('line', (l) => {
      if (l.trim() === 'go') resolve();
    });
  });
  const startedAt = Date.now();
  const connackMs: number[] = [];
  let refused = 0;
  let errors = 0;
  let lastAckAt = startedAt;
  let commands = 0;
  let short = 0;
  let lastCommandAt = startedAt;
  const deadline = new Promise<void>((resolve) => setTimeout(resolve, STORM_DEADLINE_MS).unref());
  const body = Buffer.from(JSON.stringify({ variable: 'reconnected', value: 1 }));
  const all: RawClient[] = [];
  const work: Array<Promise<void>> = [];
  for (let i = 0; i < job.count; i++) {
    const t = performance.now();
    let got = 0;
    let allIn: () => void = () => {};
    const received = new Promise<void>((resolve) => {
      allIn = resolve;
      if (want === 0) resolve();
    });
    const c = clientFor(job, i, false, (topic) => {
      if (topic !== commandTopic(names, job.first + i)) return;
      commands++;
      lastCommandAt = Date.now();
      if (++got === want) allIn();
    });
    all.push(c);
    work.push(
      c.connack
        .then(async (rc) => {
          connackMs.push(performance.now() - t);
          if (rc !== 0) {
            refused++;
            return;
          }
          c.socket.write(publishPacket('tago/data/post', body, 1));
          await c.puback(1);
          lastAckAt = Math.max(lastAckAt, Date.now());
          // Commands still missing at the deadline are counted (`short`), not waited for forever.
          await Promise.race([received, deadline]);
          if (got < want) short++;
        })
        .catch(() => {
          errors++;
        }),
    );
  }
  await Promise.all(work);
  say({
    event: 'storm',
    startedAt,
    lastAckAt: Math.max(lastAckAt, want > 0 ? lastCommandAt : 0),
    connackMs,
    refused,
    errors,
    acked: job.count - refused - errors,
    commands,
    short,
  });
  for (const c of all) c.socket.destroy();
  process.exit(0);
}

const job = JSON.parse(process.argv[2] ?? '{}') as WorkerJob;
await (job.mode === 'idle' ? idle(job) : storm(job));
