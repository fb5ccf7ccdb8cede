/**
 * Crash recovery with a real process: a child appends as fast as it can and reports every resolved
 * append; it is killed with SIGKILL mid-run three times, and every reported sequence number must be in
 * the file when it is reopened (nothing acknowledged is lost, WAL recovery included).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAt, tempDir } from './helpers.js';

const root = join(import.meta.dirname, '..', '..');
const outDir = join(root, '.tmp', `store-crash-${process.pid}`);
// .js under the project's package.json ("type": "module"): ESM.
const child = join(outDir, 'append-child.js');

beforeAll(async () => {
  mkdirSync(outDir, { recursive: true });
  // Bundled next to node_modules so the external better-sqlite3 import resolves.
  await build({
    // The commit thread's worker is a module of its own, started from beside the bundle.
    entryPoints: {
      'append-child': join(import.meta.dirname, 'fixtures', 'append-child.ts'),
      'commit-worker': join(root, 'gateway', 'store', 'sqlite', 'commit-worker.ts'),
    },
    outdir: outDir,
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    logLevel: 'error',
  });
});
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

function runAndKill(dir: string, first: number, killAfterMs: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, dir, String(first)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked: number[] = [];
    let buf = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (chunk: string) => {
      buf += chunk;
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) acked.push(Number(l));
      timer ??= setTimeout(() => p.kill('SIGKILL'), killAfterMs);
    });
    p.stderr.on('data', (c) => {
      stderr += String(c);
    });
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`child exited ${code}: ${stderr}`));
      else resolve(acked);
    });
  });
}

describe('crash recovery (kill -9)', () => {
  it('keeps every acknowledged point across three kills mid-run', async () => {
    const dir = tempDir();
    const acked = new Set<number>();
    for (const [round, ms] of [150, 400, 250].entries()) {
      const got = await runAndKill(dir, round * 10_000_000, ms);
      expect(got.length, `round ${round} acknowledged something`).toBeGreaterThan(100);
      for (const s of got) acked.add(s);
      // Reopen as the gateway would (WAL recovery), then check with a plain connection.
      const store = openAt(join(dir, 'tago-edge.db'));
      expect(store.stats().depthPoints).toBeGreaterThanOrEqual(acked.size);
      await store.close();
      const db = new Database(join(dir, 'tago-edge.db'), { readonly: true });
      const stored = new Set(
        (db.prepare('SELECT payload FROM points').pluck().all() as string[]).map(
          (p) => (JSON.parse(p) as { value: number }).value,
        ),
      );
      db.close();
      const missing = [...acked].filter((s) => !stored.has(s));
      expect(missing, `round ${round}: acknowledged but missing`).toEqual([]);
    }
  }, 60_000);
});
