/**
 * What the per-device index costs a group commit, and what keeping a cached queue's rows out of it saves
 * (schema version 3, `in_index`; docs/store.md).
 *
 * Method: the store's own schema (`openDatabase`) and its commit thread's statements (`WRITE_SQL`), in one
 * process, `synchronous = FULL`. Each commit is one transaction holding what the bench's HTTP path gives a
 * commit: 45 rows of one ~90-byte record, from 100 devices round-robin, and the deletes of 45 delivered rows
 * once the queue is `depth` rows deep (the forwarder's lag). The same run commits with `in_index = 1` (every
 * row in the index: schema version 2's cost) and with `in_index = 0` (a cached queue's rows), at three
 * depths. Reported per commit: CPU (user + system of this process), wall time, and bytes written
 * (`/proc/self/io` wchar: WAL frames and checkpoints), with the ratio of the two.
 *
 *   npm run build && node dist/loadtests/bench/store-index-bench.js [--commits 3000] [--dir DIR]
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../gateway/store/sqlite/schema.js';
import { WRITE_SQL } from '../../gateway/store/sqlite/statements.js';
import { scriptFlags } from '../lib/args.js';

const { commits: COMMITS, dir: DIR } = scriptFlags('bench/store-index-bench', {
  commits: { kind: 'number', default: 3_000, min: 1, integer: true, help: 'commits measured per queue depth' },
  dir: { kind: 'string', default: join(process.cwd(), '.tmp', 'store-index-bench'), help: 'data directory (emptied)' },
} as const);
const ROWS = 45;
const DEVICES = 100;
const DEPTHS = [300, 3_000, 30_000];
const PAYLOAD = '{"variable":"temperature","value":21.5,"unit":"C","time":"2026-11-26T06:46:12.123Z"}';
/** A device token's length as TagoIO issues them (a UUID). */
const token = (d: number) => `6f1c${String(d).padStart(4, '0')}-2b7e-4c1a-9d3e-8a5b2c7d9e10`;

function writtenBytes(): number {
  const line = readFileSync('/proc/self/io', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('wchar:'));
  return Number(line?.split(':')[1] ?? 0);
}

interface Figures {
  cpuUs: number;
  wallMs: number;
  kib: number;
}

function measure(inIndex: 0 | 1, depth: number): Figures {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  const db = openDatabase({ path: join(DIR, 'bench.db'), sync: 'full', cipher: undefined });
  const insert = db.prepare(WRITE_SQL.insertRow);
  const remove = db.prepare(WRITE_SQL.deleteRowMeta);
  let next = 0;
  let oldest = 1;
  let newest = 0;
  const commit = db.transaction(() => {
    if (newest - oldest >= depth) for (let i = 0; i < ROWS; i++) remove.get(oldest++);
    for (let i = 0; i < ROWS; i++, next++) {
      newest = Number(
        insert.run(token(next % DEVICES), PAYLOAD, PAYLOAD.length + 1, 1, Date.now(), inIndex).lastInsertRowid,
      );
    }
  });
  // Fill to the depth and settle into the steady state before measuring.
  const warm = Math.ceil(depth / ROWS) + 500;
  for (let n = 0; n < warm; n++) commit.immediate();
  const cpu0 = process.cpuUsage();
  const bytes0 = writtenBytes();
  const t0 = performance.now();
  for (let n = 0; n < COMMITS; n++) commit.immediate();
  const wallMs = (performance.now() - t0) / COMMITS;
  const cpu = process.cpuUsage(cpu0);
  const kib = (writtenBytes() - bytes0) / COMMITS / 1024;
  db.close();
  return { cpuUs: (cpu.user + cpu.system) / COMMITS, wallMs, kib };
}

const fmt = (f: Figures) =>
  `${f.cpuUs.toFixed(0).padStart(5)} µs CPU  ${f.wallMs.toFixed(2)} ms wall  ${f.kib.toFixed(1).padStart(6)} KiB written`;

console.log(
  `store index bench: ${COMMITS} commits of ${ROWS} rows from ${DEVICES} devices, synchronous=FULL; ${cpus()[0]?.model ?? '?'}, ${cpus().length} cores, Node ${process.version}`,
);
for (const depth of DEPTHS) {
  const indexed = measure(1, depth);
  const cached = measure(0, depth);
  console.log(`queue depth ${String(depth).padStart(6)} rows, every row in the index:      ${fmt(indexed)}`);
  console.log(
    `queue depth ${String(depth).padStart(6)} rows, cached queue (outside the index): ${fmt(cached)}  = ${((100 * cached.cpuUs) / indexed.cpuUs).toFixed(0)} % CPU, ${((100 * cached.kib) / indexed.kib).toFixed(0)} % bytes`,
  );
}
rmSync(DIR, { recursive: true, force: true });
