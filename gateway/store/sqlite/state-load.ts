/** Fills the queue ledger from the file: at open, and whenever the store must rebuild it. */
import type { Logger } from 'pino';
import type { Codec, Stored } from './codec.js';
import type { QueueLedger } from './queue-ledger.js';
import type { Statements } from './statements.js';

/**
 * Reads tokens, totals and each device's head: the per-device index serves the heads, and the rows outside
 * it (left by a crash while their queue was cached) are added one by one. Writes nothing; returns those
 * rows' ids per token key, for the store to put into the index.
 */
export function loadLedger(
  ledger: QueueLedger,
  st: Statements,
  codec: Codec,
  log: Logger | undefined,
): Map<string, number[]> {
  ledger.clear();
  for (const r of st.allTokens.all() as Array<{ tkey: string; token: Stored }>) {
    try {
      ledger.tokenOf.set(r.tkey, codec.openToken(r.token, r.tkey));
    } catch {
      log?.error('store: a device token failed authentication; its points cannot be forwarded');
    }
  }
  const totals = st.totals.get() as { n: number; bytes: number };
  ledger.loadTotals(totals.n, totals.bytes);
  for (const r of st.heads.all() as Array<{ tkey: string; oldestId: number; n: number; bytes: number }>) {
    ledger.loadHead(r.tkey, r.oldestId, r.n, r.bytes);
  }
  const unindexed = new Map<string, number[]>();
  for (const r of st.unindexed.iterate() as IterableIterator<{
    id: number;
    token: string;
    bytes: number;
    points: number;
  }>) {
    ledger.loadHead(r.token, r.id, r.points, r.bytes);
    const ids = unindexed.get(r.token);
    if (ids) ids.push(r.id);
    else unindexed.set(r.token, [r.id]);
  }
  return unindexed;
}
