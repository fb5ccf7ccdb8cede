import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { events } from '../../gateway/events.js';
import { openAt, rec, tempDir } from './helpers.js';

describe('group commit', () => {
  for (const groupCommitMs of [0, 2]) {
    it(`shares commits between 100 concurrent appends and resolves each only after its commit (groupCommitMs ${groupCommitMs})`, async () => {
      const path = join(tempDir(), 's.db');
      const store = openAt(path, { groupCommitMs, sync: 'full' });
      const reader = new Database(path, { readonly: true });
      const count = reader.prepare('SELECT COALESCE(SUM(points), 0) FROM points WHERE payload LIKE ?').pluck();
      const commits: Array<{ rows: number; durationMs: number }> = [];
      const unsub = events.storeCommit.subscribe((m) => commits.push(m));
      const visibleAtResolve: number[] = [];
      await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          store.append(`dev-${i % 10}`, [rec('seq', `s${i}-a`), rec('seq', `s${i}-b`)]).then(() => {
            // Read from a second connection: the rows must already be committed.
            visibleAtResolve.push(count.get(`%"s${i}-_"%`) as number);
          }),
        ),
      );
      unsub();
      reader.close();
      expect(visibleAtResolve).toEqual(Array(100).fill(2));
      expect(commits.length).toBeGreaterThanOrEqual(1);
      expect(commits.length).toBeLessThan(10);
      // One stored row per append, whatever its number of points.
      expect(commits.reduce((n, c) => n + c.rows, 0)).toBe(100);
    });
  }

  it('does not resolve an append before its commit', async () => {
    const path = join(tempDir(), 's.db');
    const store = openAt(path, { groupCommitMs: 50 });
    let resolved = false;
    const p = store.append('t', [rec('v', 1)]).then(() => {
      resolved = true;
    });
    await new Promise((r) => setImmediate(r));
    const reader = new Database(path, { readonly: true });
    expect(resolved).toBe(false);
    expect(reader.prepare('SELECT COUNT(*) FROM points').pluck().get()).toBe(0);
    await p;
    expect(reader.prepare('SELECT COUNT(*) FROM points').pluck().get()).toBe(1);
    reader.close();
  });
});
