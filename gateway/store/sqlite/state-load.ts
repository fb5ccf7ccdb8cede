/** Fills the queue ledger from the file: at open, and whenever the store must rebuild it. */
import type { Logger } from 'pino';
import type { Codec, Stored } from './codec.js';
import type { QueueLedger } from './queue-ledger.js';
import type { Statements } from './statements.js';

/**
 * Reads tokens, each device's totals (the `queues` table, kept by triggers) and head (one seek of the
 * per-device index), then, unless the file was closed with every row indexed (`allIndexed`), the rows
 * outside it (left by a crash while their queue was held in memory; read through `points_unindexed`, so
 * only those rows). Writes nothing; returns those rows' ids per token key, for the store to put into the
 * index. Its cost grows with the devices, not the points queued.
 */
export function loadLedger(
  ledger: QueueLedger,
  st: Statements,
  codec: Codec,
  log: Logger | undefined,
  allIndexed: boolean,
): Map<string, number[]> {
  ledger.clear();
  for (const r of st.allTokens.all() as Array<{ tkey: string; token: Stored }>) {
    try {
      ledger.tokenOf.set(r.tkey, codec.openToken(r.token, r.tkey));
    } catch {
      log?.error('store: a device token failed authentication; its points cannot be forwarded');
    }
  }
  // Every row counts, a device whose token failed authentication too (never forwarded, still stored).
  let points = 0;
  let bytes = 0;
  for (const r of st.queueTotals.all() as Array<{ tkey: string; points: number; bytes: number }>) {
    points += r.points;
    bytes += r.bytes;
    if (!ledger.tokenOf.has(r.tkey)) continue;
    // No indexed row: all of the device's rows are outside the index, and the scan below finds its head.
    const head = st.firstOfToken.get(r.tkey) as number | undefined;
    ledger.loadHead(r.tkey, head ?? Number.MAX_SAFE_INTEGER, r.points, r.bytes);
  }
  const unindexed = new Map<string, number[]>();
  if (!allIndexed) {
    for (const r of st.unindexed.iterate() as IterableIterator<{ id: number; token: string }>) {
      ledger.loadHead(r.token, r.id, 0, 0);
      const ids = unindexed.get(r.token);
      if (ids) ids.push(r.id);
      else unindexed.set(r.token, [r.id]);
    }
  }
  ledger.loadTotals(points, bytes);
  return unindexed;
}
