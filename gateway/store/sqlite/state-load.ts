/** Fills the queue ledger from the file: at open, and whenever the store must rebuild it. */
import type { Logger } from 'pino';
import type { Codec, Stored } from './codec.js';
import type { QueueLedger } from './queue-ledger.js';
import type { Statements } from './statements.js';

/**
 * Reads tokens and each device's head and totals from the per-device index alone (it covers `points` and
 * `bytes`), then, unless the file was closed with every row indexed (`allIndexed`), the rows outside it (left
 * by a crash while their queue was held in memory: a scan of the table). Writes nothing; returns those rows'
 * ids per token key, for the store to put into the index.
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
  for (const r of st.heads.iterate() as IterableIterator<{
    tkey: string;
    oldestId: number;
    n: number;
    bytes: number;
  }>) {
    ledger.loadHead(r.tkey, r.oldestId, r.n, r.bytes);
    points += r.n;
    bytes += r.bytes;
  }
  const unindexed = new Map<string, number[]>();
  if (!allIndexed) {
    for (const r of st.unindexed.iterate() as IterableIterator<{
      id: number;
      token: string;
      bytes: number;
      points: number;
    }>) {
      ledger.loadHead(r.token, r.id, r.points, r.bytes);
      points += r.points;
      bytes += r.bytes;
      const ids = unindexed.get(r.token);
      if (ids) ids.push(r.id);
      else unindexed.set(r.token, [r.id]);
    }
  }
  ledger.loadTotals(points, bytes);
  return unindexed;
}
