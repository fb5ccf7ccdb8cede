/**
 * A generator process for the connection curves (run by `mqtt-workers.ts`, one job per process, its fd
 * limit raised by the shell that starts it). Jobs, given as JSON in argv[2]:
 * - `idle`: opens `count` connections (clean session, keep-alive `keepAliveS`) and keeps them alive with
 *   PINGREQs spread evenly over each keep-alive period; prints `{"event":"opened",...}`, then stays until
 *   killed.
 * - `storm`: connects `count` devices with clean-session=false and disconnects them (so each has a session
 *   on the broker), prints `{"event":"ready"}`, waits for `go` on stdin, then reconnects them all at once,
 *   each publishing one QoS 1 message once accepted; prints `{"event":"storm",...}` when every device is
 *   PUBACKed or has failed, and exits.
 * Connection i uses source address `addresses[i % addresses.length]`.
 */
import { createInterface } from 'node:readline';
import { DISCONNECT, PINGREQ, publishPacket, type RawClient, rawConnect } from '../lib/raw-mqtt.js';

export interface WorkerJob {
  mode: 'idle' | 'storm';
  port: number;
  first: number;
  count: number;
  addresses: string[];
  keepAliveS: number;
  /** Token (and client id suffix) of device i. */
  tokenPrefix: string;
}

const say = (msg: unknown) => process.stdout.write(`${JSON.stringify(msg)}\n`);

function clientFor(job: WorkerJob, i: number, clean: boolean): RawClient {
  const d = job.first + i;
  return rawConnect({
    port: job.port,
    localAddress: job.addresses[i % job.addresses.length] as string,
    clientId: `growth-${job.tokenPrefix}-${d}`,
    token: `${job.tokenPrefix}-${d}`,
    clean,
    keepAliveS: job.keepAliveS,
  });
}

/** Opens connections `batch` at a time; the accepted ones and the count of failures. */
async function openBatched(job: WorkerJob, clean: boolean, batch = 500): Promise<{ ok: RawClient[]; failed: number }> {
  const ok: RawClient[] = [];
  let failed = 0;
  for (let i = 0; i < job.count; i += batch) {
    const pending: Array<Promise<void>> = [];
    for (let j = i; j < Math.min(job.count, i + batch); j++) {
      const c = clientFor(job, j, clean);
      pending.push(
        c.connack.then(
          (rc) => {
            if (rc === 0) ok.push(c);
            else {
              failed++;
              c.socket.destroy();
            }
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
  const setup = await openBatched(job, false);
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
  const body = Buffer.from(JSON.stringify({ variable: 'reconnected', value: 1 }));
  const all: RawClient[] = [];
  const work: Array<Promise<void>> = [];
  for (let i = 0; i < job.count; i++) {
    const t = performance.now();
    const c = clientFor(job, i, false);
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
        })
        .catch(() => {
          errors++;
        }),
    );
  }
  await Promise.all(work);
  say({ event: 'storm', startedAt, lastAckAt, connackMs, refused, errors, acked: job.count - refused - errors });
  for (const c of all) c.socket.destroy();
  process.exit(0);
}

const job = JSON.parse(process.argv[2] ?? '{}') as WorkerJob;
await (job.mode === 'idle' ? idle(job) : storm(job));
