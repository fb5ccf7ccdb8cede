/**
 * Slow-disk benchmark: the gateway on a disk whose fsync takes milliseconds (an SD card, eMMC, a busy
 * network volume), against the same gateway with fsync as fast as this machine's, in the same run.
 *
 * Method: the gateway CLI runs under `strace -f --seccomp-bpf -e inject=fsync,fdatasync:delay_exit=…`, so
 * every fsync/fdatasync of the process (SQLite's WAL sync at each `sync: full` commit, checkpoints) returns
 * `--fsync-ms` later; the baseline runs under the same strace with no delay, so strace's own cost is in both.
 * Load: 100 MQTT connections publishing json1 on an open model at `--rate` messages/s (latency from the
 * scheduled time, 2 s warm-up discarded, `--seconds` measured) while this process probes `GET /livez` every
 * 10 ms: the probe's latency is how long the gateway's event loop keeps other work waiting.
 * Printed: publish→PUBACK p50/p99/max, unanswered publishes, /livez p50/p99/max, commits and mean commit
 * time (from /metrics), for both runs, and the slow run's PUBACK p99 against the baseline.
 *
 * Needs strace (Debian: apt-get install -y strace).
 * Run: npm run build && node dist/loadtests/bench/slow-disk.js [--fsync-ms 20] [--rate 5000] [--seconds 10]
 *      [--nodelay]   (--nodelay: TCP_NODELAY on the generator's sockets; see simulators/fleet/fixed-load.ts)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeFixedFleet, connectFixedFleet, openModel } from '../../simulators/fleet/fixed-load.js';
import { newHistogram } from '../../simulators/fleet/histogram.js';
import { scriptFlags } from '../lib/args.js';
import { type Proc, startCli } from '../lib/processes.js';
import { writeLoopbackConfig } from '../stack.js';
import { metricSum } from './gateway-inside.js';

const {
  'fsync-ms': FSYNC_MS,
  rate: RATE,
  seconds: SECONDS,
  nodelay: NO_DELAY,
} = scriptFlags('bench/slow-disk', {
  'fsync-ms': { kind: 'number', default: 20, min: 0, help: 'delay injected into each fsync/fdatasync, ms' },
  rate: { kind: 'number', default: 5_000, min: 1, help: 'open-model MQTT messages/s' },
  seconds: { kind: 'number', default: 10, min: 1, help: 'measured seconds per run' },
  nodelay: { kind: 'boolean', help: "TCP_NODELAY on the generator's sockets (simulators/fleet/fixed-load.ts)" },
} as const);
const CONNS = 100;

interface Figures {
  fsyncMs: number;
  pubackP50: number;
  pubackP99: number;
  pubackMax: number;
  unanswered: number;
  probeP50: number;
  probeP99: number;
  probeMax: number;
  commits: number;
  commitMs: number;
}

async function measure(fsyncMs: number): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), 'tago-edge-slow-disk-'));
  const procs: Proc[] = [];
  try {
    const sim = await startCli('cloud-sim', ['cloud-sim', '--port', '0', '--host', '127.0.0.1']);
    procs.push(sim);
    const config = writeLoopbackConfig(dir, String(sim.ports.url), 600_000, {
      store: { sync: 'full' },
      limits: { authFailuresPerMinute: 0 },
    });
    const strace = [
      'strace',
      '-f',
      '--seccomp-bpf',
      '-qq',
      '-o',
      '/dev/null',
      '-e',
      'trace=fsync,fdatasync',
      '-e',
      `inject=fsync,fdatasync:delay_exit=${Math.round(fsyncMs * 1000)}`,
    ];
    const gw = await startCli('gateway', ['gateway', '--config', config], { prefix: strace });
    procs.push(gw);
    const base = `http://127.0.0.1:${gw.ports.http}`;
    const clients = await connectFixedFleet(`mqtt://127.0.0.1:${gw.ports.mqtt}`, CONNS, (i) => `slow-disk-${i}`, {
      noDelay: NO_DELAY,
    });
    const probe = newHistogram();
    let probing = true;
    const probeLoop = (async () => {
      while (probing) {
        const t = performance.now();
        await (await fetch(`${base}/livez`)).arrayBuffer();
        probe.recordValue(Math.max(1, Math.round((performance.now() - t) * 1000)));
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const body = Buffer.from(JSON.stringify({ variable: 'temperature', value: 21.5, unit: 'C' }));
    const r = await openModel(
      clients,
      { name: 'json1', topic: 'tago/data/post', body, points: 1 },
      { ratePerSec: RATE, warmupMs: 2_000, durationMs: SECONDS * 1000 },
    );
    probing = false;
    await probeLoop;
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const metric = (name: string) => metricSum(metrics, name);
    const commits = metric('tago_edge_store_commits_total');
    await closeFixedFleet(clients);
    return {
      fsyncMs,
      pubackP50: r.p50Ms,
      pubackP99: r.p99Ms,
      pubackMax: r.maxMs,
      unanswered: r.unanswered ?? 0,
      probeP50: probe.getValueAtPercentile(50) / 1000,
      probeP99: probe.getValueAtPercentile(99) / 1000,
      probeMax: probe.maxValue / 1000,
      commits,
      commitMs: (1000 * metric('tago_edge_store_commit_seconds_sum')) / metric('tago_edge_store_commit_seconds_count'),
    };
  } finally {
    for (const p of procs.reverse()) await p.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function line(f: Figures): string {
  const ms = (v: number) => v.toFixed(1).padStart(7);
  return `fsync +${String(f.fsyncMs).padEnd(4)} ms  PUBACK p50 ${ms(f.pubackP50)} p99 ${ms(f.pubackP99)} max ${ms(f.pubackMax)} ms  unanswered ${f.unanswered}  GET /livez p50 ${ms(f.probeP50)} p99 ${ms(f.probeP99)} max ${ms(f.probeMax)} ms  commits ${f.commits} (mean ${f.commitMs.toFixed(1)} ms)`;
}

async function main(): Promise<void> {
  if (spawnSync('strace', ['-V']).error) {
    process.stderr.write('slow-disk: needs strace (Debian: apt-get install -y strace)\n');
    process.exit(1);
  }
  process.stdout.write(
    `tago-edge slow-disk bench: ${cpus().length} cores, Node ${process.version}; ${CONNS} MQTT connections, json1 open model at ${RATE}/s for ${SECONDS} s after 2 s warm-up; generator sockets ${NO_DELAY ? 'TCP_NODELAY' : 'with Nagle'}; fsync delayed with strace\n`,
  );
  const baseline = await measure(0);
  process.stdout.write(`${line(baseline)}\n`);
  const slow = await measure(FSYNC_MS);
  process.stdout.write(`${line(slow)}\n`);
  process.stdout.write(
    `PUBACK p99 ${slow.pubackP99.toFixed(1)} ms with fsync +${FSYNC_MS} ms = ${(slow.pubackP99 / baseline.pubackP99).toFixed(1)}× the baseline's; /livez p99 ${slow.probeP99.toFixed(1)} ms (baseline ${baseline.probeP99.toFixed(1)})\n`,
  );
}

await main();
