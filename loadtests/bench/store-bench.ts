/**
 * Store benchmark: what durability costs.
 *
 * Method: W writers (1, 10, 100) each loop `await store.append(device, [one ~90-byte record])` for a fixed
 * time after a discarded warm-up (a closed loop on purpose: it measures the store's capacity, not
 * latency under an arrival schedule). Reported: appends/s, append latency p50/p99, commits and rows per
 * commit, commit duration p99 (from events.storeCommit), and the ratio to MemoryStore measured in the
 * same run. Then the drain rate: N points are stored, the store is reopened (timing the open), and
 * peek(200 kB)+ack runs until it is empty, with no network.
 *
 * Run: npm run build && node dist/loadtests/bench/store-bench.js [--seconds 2] [--drain 1000000] [--dir DIR]
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { events } from '../../gateway/events.js';
import type { DataRecord } from '../../gateway/model.js';
import { Cipher } from '../../gateway/store/encryption.js';
import { MemoryStore } from '../../gateway/store/memory-store.js';
import { SqliteStore } from '../../gateway/store/sqlite/sqlite-store.js';
import type { Store } from '../../gateway/store/store.js';
import { scriptFlags } from '../lib/args.js';

const {
  seconds: SECONDS,
  drain: DRAIN,
  dir: DIR,
} = scriptFlags('bench/store-bench', {
  seconds: { kind: 'number', default: 2, min: 0.1, help: 'measured seconds per run' },
  drain: {
    kind: 'number',
    default: 1_000_000,
    min: 0,
    integer: true,
    help: 'points in the drain backlog (0: no drain)',
  },
  dir: { kind: 'string', default: join(process.cwd(), '.tmp', 'store-bench'), help: 'data directory' },
} as const);
const WARMUP_MS = 300;
const MAX_APPENDS = 3_000_000;

const record = (i: number): DataRecord => ({
  variable: 'temperature',
  value: 20 + (i % 100) / 10,
  unit: 'C',
  time: new Date(1_700_000_000_000 + i).toISOString(),
});

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

interface Result {
  label: string;
  writers: number;
  perSec: number;
  p50: number;
  p99: number;
  commits: number;
  rowsPerCommit: number;
  commitP99: number;
}

async function measure(label: string, make: () => Store, writers: number): Promise<Result> {
  const store = make();
  const commitMs: number[] = [];
  let commitRows = 0;
  let measuring = false;
  const unsub = events.storeCommit.subscribe((m) => {
    if (!measuring) return;
    commitMs.push(m.durationMs);
    commitRows += m.rows;
  });
  const lat: number[] = [];
  let count = 0;
  let stop = false;
  let wake: (() => void) | undefined;
  let i = 0;
  const writer = async (w: number) => {
    while (!stop) {
      // MemoryStore resolves in a microtask: yield now and then or timers never fire.
      if (i % 256 === 0) await new Promise((r) => setImmediate(r));
      const t0 = performance.now();
      await store.append(`device-${w}`, [record(i++)]);
      if (measuring) {
        lat.push(performance.now() - t0);
        // MemoryStore takes millions per second: stop before its Maps reach their size limit.
        if (++count >= MAX_APPENDS) wake?.();
      }
    }
  };
  const running = Array.from({ length: writers }, (_, w) => writer(w));
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  measuring = true;
  const t0 = performance.now();
  await new Promise<void>((r) => {
    const timer = setTimeout(r, SECONDS * 1000);
    wake = () => {
      clearTimeout(timer);
      r();
    };
  });
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  stop = true;
  await Promise.all(running);
  unsub();
  await store.close();
  lat.sort((a, b) => a - b);
  commitMs.sort((a, b) => a - b);
  return {
    label,
    writers,
    perSec: count / elapsed,
    p50: pct(lat, 50),
    p99: pct(lat, 99),
    commits: commitMs.length,
    rowsPerCommit: commitMs.length ? commitRows / commitMs.length : 0,
    commitP99: pct(commitMs, 99),
  };
}

function sqlite(name: string, sync: 'full' | 'normal', groupCommitMs: number, cipher?: Cipher): () => Store {
  return () => {
    const path = join(DIR, `${name}.db`);
    for (const f of [path, `${path}-wal`, `${path}-shm`]) rmSync(f, { force: true });
    return new SqliteStore({
      path,
      sync,
      groupCommitMs,
      maxBytes: 10 * 1024 ** 3,
      whenFull: 'block',
      retryAfterSeconds: 5,
      cipher,
      deviceIdOf: (t) => t,
    });
  };
}

async function drain(label: string, cipher: Cipher | undefined): Promise<void> {
  const path = join(DIR, `drain-${label}.db`);
  for (const f of [path, `${path}-wal`, `${path}-shm`]) rmSync(f, { force: true });
  const opts = {
    path,
    sync: 'normal' as const,
    groupCommitMs: 0,
    maxBytes: 10 * 1024 ** 3,
    whenFull: 'block' as const,
    retryAfterSeconds: 5,
    cipher,
    deviceIdOf: (t: string) => t,
  };
  let store = new SqliteStore(opts);
  const devices = 100;
  const tFill = performance.now();
  for (let n = 0; n < DRAIN; ) {
    const batch: Promise<void>[] = [];
    for (let d = 0; d < devices && n < DRAIN; d++) {
      const k = Math.min(100, DRAIN - n);
      batch.push(
        store.append(
          `device-${d}`,
          Array.from({ length: k }, (_, j) => record(n + j)),
        ),
      );
      n += k;
    }
    await Promise.all(batch);
  }
  const fillS = (performance.now() - tFill) / 1000;
  await store.close();
  const tOpen = performance.now();
  store = new SqliteStore(opts);
  const openMs = performance.now() - tOpen;
  const t0 = performance.now();
  let points = 0;
  let batches = 0;
  for (let tokens = store.pendingTokens(64); tokens.length > 0; tokens = store.pendingTokens(64)) {
    for (const t of tokens) {
      const b = store.peek(t, 200_000);
      if (!b) continue;
      await store.acknowledge(b.ids);
      points += b.ids.length;
      batches++;
    }
  }
  const s = (performance.now() - t0) / 1000;
  await store.close();
  console.log(
    `drain ${label.padEnd(9)} ${points} points: fill ${fmt(DRAIN / fillS)} pts/s (100-record appends, sync normal); ` +
      `reopen ${openMs.toFixed(0)} ms; peek(200 kB)+ack ${fmt(points / s)} pts/s ` +
      `(${batches} batches, ${(points / batches).toFixed(0)} pts/batch, ${s.toFixed(2)} s)`,
  );
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function fsType(dir: string): string {
  try {
    const out = execFileSync('df', ['-T', dir], { encoding: 'utf8' }).trim().split('\n')[1] ?? '';
    return out.split(/\s+/)[1] ?? '?';
  } catch {
    return '?';
  }
}

async function main(): Promise<void> {
  mkdirSync(DIR, { recursive: true });
  const cpu = cpus();
  console.log(`store-bench: ${cpu.length} x ${cpu[0]?.model ?? '?'}, ${(totalmem() / 1024 ** 3).toFixed(1)} GiB,`);
  console.log(`  ${platform()} ${release()}, node ${process.version}, data dir ${DIR} (${fsType(DIR)})`);
  console.log(
    `  closed-loop writers, ${SECONDS} s per run after ${WARMUP_MS} ms warm-up, one ~90-byte record per append`,
  );
  console.log('');
  const configs: Array<[string, () => Store]> = [
    ['memory', () => new MemoryStore({ maxBytes: 10 * 1024 ** 3 })],
    ['sqlite full gc=2ms', sqlite('full-2', 'full', 2)],
    ['sqlite normal gc=2ms', sqlite('normal-2', 'normal', 2)],
    ['sqlite full gc=0', sqlite('full-0', 'full', 0)],
    ['sqlite full gc=2ms aes', sqlite('full-2-aes', 'full', 2, new Cipher(randomBytes(32)))],
  ];
  console.log(
    `${'store'.padEnd(24)}${'writers'.padStart(8)}${'appends/s'.padStart(12)}${'vs memory'.padStart(11)}` +
      `${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'commits'.padStart(9)}${'rows/commit'.padStart(13)}${'commit p99 ms'.padStart(15)}`,
  );
  for (const writers of [1, 10, 100]) {
    let base = 0;
    for (const [label, make] of configs) {
      const r = await measure(label, make, writers);
      if (label === 'memory') base = r.perSec;
      console.log(
        `${label.padEnd(24)}${String(writers).padStart(8)}${fmt(r.perSec).padStart(12)}` +
          `${(label === 'memory' ? '1' : (r.perSec / base).toFixed(3)).padStart(11)}` +
          `${r.p50.toFixed(3).padStart(9)}${r.p99.toFixed(3).padStart(9)}${String(r.commits).padStart(9)}` +
          `${r.rowsPerCommit.toFixed(1).padStart(13)}${r.commitP99.toFixed(3).padStart(15)}`,
      );
    }
  }
  console.log('');
  if (DRAIN > 0) {
    await drain('plain', undefined);
    await drain('encrypted', new Cipher(randomBytes(32)));
  }
  rmSync(DIR, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
