/**
 * Backlog curve: what a deep queue costs. At 0, 1M and 10M queued points (50M with --growth-full) in a store file:
 * - the fill itself: one-point rows inserted straight into the file with the store's schema (raw
 *   better-sqlite3, big transactions): the setup's rate, and bytes on disk per point (db + WAL);
 * - the append rate through SqliteStore.append at that depth (sync full, group commit 2 ms, DEVICES
 *   devices each appending one point and waiting for it, closed loop), against the empty store;
 * - `tago-edge queue stats` on the file (no gateway: it opens the file read-only), the gateway's start
 *   (spawn → `listening`) with the file dropped from the OS page cache first (as after a reboot: GNU dd's
 *   `iflag=nocache count=0`), and its drain rate to cloud-sim over a bounded window.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { request } from 'undici';
import { deviceIdOf } from '../../gateway/auth/device-directory.js';
import { SqliteStore } from '../../gateway/store/sqlite/sqlite-store.js';
import { projectRoot } from '../lib/processes.js';
import { fmt, type GrowthContext, gatewayConfig, sizes, sleep, subdir } from './context.js';
import { withGateway } from './procs.js';
import type { Curve } from './report.js';

const FILL_DEVICES = 100;
const DEVICES = 200;
const MAX_BYTES = 256 * 1024 ** 3;

const storeOptions = (path: string, sync: 'full' | 'normal', groupCommitMs: number) => ({
  path,
  sync,
  groupCommitMs,
  maxBytes: MAX_BYTES,
  whenFull: 'block' as const,
  retryAfterSeconds: 5,
  deviceIdOf,
});

/**
 * Writes `points` one-point rows over FILL_DEVICES devices: one append per device through the store (its
 * tokens table and row format), then copies of those rows in transactions of 100k; closes clean (all rows
 * indexed, as the store's own clean close leaves them). Points per second of the fill.
 */
async function fill(path: string, points: number): Promise<number> {
  const store = new SqliteStore(storeOptions(path, 'normal', 0));
  const t0 = Date.UTC(2025, 0, 1);
  await Promise.all(
    Array.from({ length: FILL_DEVICES }, (_, d) =>
      store.append(`growth-backlog-${d}`, [
        { variable: 'temperature', value: 21.5, unit: 'C', time: new Date(t0 + d).toISOString() },
      ]),
    ),
  );
  await store.close();
  const started = performance.now();
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  const templates = db
    .prepare('SELECT token, payload, bytes, points, created_at FROM points ORDER BY id')
    .all() as Array<{
    token: string;
    payload: Buffer;
    bytes: number;
    points: number;
    created_at: number;
  }>;
  const insert = db.prepare(
    'INSERT INTO points (token, payload, bytes, points, created_at, in_index) VALUES (?, ?, ?, ?, ?, 1)',
  );
  const batch = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const t = templates[i % templates.length] as (typeof templates)[number];
      insert.run(t.token, t.payload, t.bytes, t.points, t.created_at + i);
    }
  });
  for (let i = templates.length; i < points; i += 100_000) batch(i, Math.min(points, i + 100_000));
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return (points - templates.length) / ((performance.now() - started) / 1000);
}

/** Drops the store's files from the OS page cache (what a reboot leaves); false where dd cannot. */
function evictFromCache(path: string): boolean {
  let all = true;
  for (const p of [path, `${path}-wal`]) {
    if (!existsSync(p)) continue;
    const r = spawnSync('dd', [`if=${p}`, 'iflag=nocache', 'count=0', 'status=none']);
    if (r.status !== 0) all = false;
  }
  return all;
}

function fileBytes(path: string): number {
  return [path, `${path}-wal`].reduce((a, p) => a + (existsSync(p) ? statSync(p).size : 0), 0);
}

/** Points/s of DEVICES concurrent closed-loop one-point appends for `ms`, on the store at `path`. */
async function appendRate(path: string, ms: number): Promise<{ perSec: number; openS: number }> {
  const t0 = performance.now();
  const store = new SqliteStore(storeOptions(path, 'full', 2));
  const openS = (performance.now() - t0) / 1000;
  let n = 0;
  let running = true;
  const start = performance.now();
  const loops = Array.from({ length: DEVICES }, async (_, d) => {
    while (running) {
      await store.append(`growth-append-${d}`, [
        { variable: 'temperature', value: n, unit: 'C', time: new Date().toISOString() },
      ]);
      n++;
    }
  });
  await sleep(ms);
  running = false;
  const counted = n;
  const seconds = (performance.now() - start) / 1000;
  await Promise.all(loops);
  await store.close();
  return { perSec: counted / seconds, openS };
}

async function depth(httpUrl: string): Promise<number> {
  const res = await request(`${httpUrl}/readyz`);
  return ((await res.body.json()) as { store: { depthPoints: number } }).store.depthPoints;
}

export async function backlogCurve(ctx: GrowthContext): Promise<Curve> {
  const steps = [0, ...sizes(ctx, [1_000_000, 10_000_000], [50_000_000])];
  const appendMs = (ctx.full ? 10 : 5) * 1000;
  const drainMs = (ctx.full ? 30 : 15) * 1000;
  const rows: Curve['rows'] = [];
  for (const n of steps) {
    const dir = subdir(ctx, `backlog-${n}`);
    const path = join(dir, 'data', 'tago-edge.db');
    subdir(ctx, `backlog-${n}/data`);
    const fillPerSec = n > 0 ? await fill(path, n) : Number.NaN;
    const bytes = n > 0 ? fileBytes(path) : Number.NaN;
    if (n > 0)
      ctx.log(`backlog: ${fmt(n)} points written at ${fmt(fillPerSec)} points/s, ${fmt(bytes / n, 1)} B/point`);
    const append = await appendRate(path, appendMs);
    const config = gatewayConfig(ctx, dir, { store: { sync: 'full', maxBytes: MAX_BYTES } });
    const q0 = performance.now();
    await promisify(execFile)(process.execPath, ['bin/tago-edge.js', 'queue', 'stats', '--config', config, '--json'], {
      cwd: projectRoot(),
    });
    const statsS = (performance.now() - q0) / 1000;
    const cold = evictFromCache(path);
    if (!cold) ctx.log('backlog: could not drop the store file from the page cache (GNU dd); the start is a warm one');
    const { startS, drainPerSec } = await withGateway(
      config,
      async (gw, startS) => {
        const http = `http://127.0.0.1:${gw.ports.http}`;
        const d0 = await depth(http);
        const t0 = performance.now();
        let d1 = d0;
        while (d1 > 0 && performance.now() - t0 < drainMs) {
          await sleep(250);
          d1 = await depth(http);
        }
        return { startS, drainPerSec: (d0 - d1) / ((performance.now() - t0) / 1000) };
      },
      { startTimeoutMs: 300_000, stopGraceMs: 60_000 },
    );
    ctx.log(
      `backlog: ${fmt(n)}: append ${fmt(append.perSec)} points/s, queue stats ${fmt(statsS, 2)} s, start ${fmt(startS, 2)} s, drain ${fmt(drainPerSec)} points/s`,
    );
    rows.push({
      points: n,
      fillPerSec,
      bytesPerPoint: bytes / n,
      appendPerSec: append.perSec,
      appendVsEmpty: rows[0] ? (100 * append.perSec) / (rows[0].appendPerSec as number) : 100,
      storeOpenS: append.openS,
      statsS,
      startS,
      cold: cold ? 'yes' : 'no',
      drainPerSec,
    });
  }
  return {
    name: 'backlog',
    title: 'Backlog depth (SQLite store)',
    xKey: 'points',
    columns: [
      { key: 'points', label: 'queued points' },
      { key: 'fillPerSec', label: 'fill points/s', digits: 0 },
      { key: 'bytesPerPoint', label: 'disk B/point', digits: 1 },
      { key: 'appendPerSec', label: 'append points/s', digits: 0 },
      { key: 'appendVsEmpty', label: 'append % of empty', digits: 0 },
      { key: 'storeOpenS', label: 'store open s', digits: 2 },
      { key: 'statsS', label: 'queue stats s', digits: 2 },
      { key: 'startS', label: 'gateway start s', digits: 2 },
      { key: 'cold', label: 'start from cold cache' },
      { key: 'drainPerSec', label: 'drain points/s', digits: 0 },
    ],
    rows,
    charts: [
      {
        title: 'Append and drain rate vs queue depth',
        yLabel: 'points/s',
        keys: [
          { key: 'appendPerSec', name: 'SqliteStore.append' },
          { key: 'drainPerSec', name: 'drain to cloud-sim' },
        ],
      },
      {
        title: 'Open, queue stats and start time vs queue depth',
        yLabel: 's',
        keys: [
          { key: 'storeOpenS', name: 'SqliteStore open' },
          { key: 'statsS', name: 'tago-edge queue stats' },
          { key: 'startS', name: 'gateway spawn → listening (cold page cache)' },
        ],
      },
    ],
    notes: [
      `Fill: one-point rows over ${FILL_DEVICES} devices, copies of rows the store wrote itself, straight into the file (raw better-sqlite3, synchronous OFF, 100k rows per transaction), then a WAL checkpoint; disk B/point = (db + WAL) / points.`,
      `Append: SqliteStore (sync full, groupCommitMs 2) in the bench process, ${DEVICES} devices each appending one point and awaiting it, ${appendMs / 1000} s; target within 20 % of the empty store.`,
      `queue stats: the CLI with no gateway running (it opens the file read-only; target < 10 s); gateway start: spawn → listening with the store's files dropped from the OS page cache first (dd iflag=nocache count=0), as after a reboot (target < 10 s); drain: the gateway forwarding to cloud-sim (600,000 requests/min), depth from /readyz over a ${drainMs / 1000} s window.`,
    ],
  };
}
