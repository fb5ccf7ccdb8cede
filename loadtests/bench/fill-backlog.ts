/**
 * Drain-bench setup: writes a backlog straight into a gateway store file with the SqliteStore API (much
 * faster than publishing it), spread over `devices` device tokens, as if the uplink had been down while the
 * devices kept publishing. The gateway then opens this file and forwards it.
 */
import { deviceIdOf } from '../../gateway/auth/device-directory.js';
import type { DataRecord } from '../../gateway/model.js';
import { SqliteStore } from '../../gateway/store/sqlite/sqlite-store.js';

export async function fillBacklog(path: string, points: number, devices: number): Promise<{ bytes: number }> {
  const store = new SqliteStore({
    path,
    sync: 'normal', // setup only: the gateway reopens the file with sync: full
    groupCommitMs: 0,
    maxBytes: 8 * 1024 ** 3,
    whenFull: 'block',
    retryAfterSeconds: 5,
    deviceIdOf,
  });
  const perAppend = 500;
  const t0 = Date.UTC(2025, 0, 1);
  let i = 0;
  while (i < points) {
    const pending: Array<Promise<void>> = [];
    for (let d = 0; d < devices && i < points; d++) {
      const n = Math.min(perAppend, points - i);
      const recs: DataRecord[] = new Array(n);
      for (let k = 0; k < n; k++, i++) {
        recs[k] = {
          variable: 'temperature',
          value: 20 + (i % 100) / 10,
          unit: 'C',
          time: new Date(t0 + i).toISOString(),
        };
      }
      pending.push(store.append(`bench-drain-${d}`, recs));
    }
    await Promise.all(pending);
  }
  const bytes = store.stats().depthBytes;
  await store.close();
  return { bytes };
}
