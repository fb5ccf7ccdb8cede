/** Fills the queue ledger from the file: at open, and whenever the store must rebuild it. */
import type { Logger } from 'pino';
import type { Codec, Stored } from './codec.js';
import type { QueueLedger } from './queue-ledger.js';
import type { Statements } from './statements.js';

/** `indexAll` runs before the heads are read, so the partial index covers every row and serves the grouping. */
export function loadLedger(
  ledger: QueueLedger,
  st: Statements,
  codec: Codec,
  log: Logger | undefined,
  indexAll: () => void,
): void {
  ledger.clear();
  for (const r of st.allTokens.all() as Array<{ tkey: string; token: Stored }>) {
    try {
      ledger.tokenOf.set(r.tkey, codec.openToken(r.token, r.tkey));
    } catch {
      log?.error('store: a device token failed authentication; its points cannot be forwarded');
    }
  }
  indexAll();
  const totals = st.totals.get() as { n: number; bytes: number };
  ledger.loadTotals(totals.n, totals.bytes);
  for (const r of st.heads.all() as Array<{ tkey: string; oldestId: number; n: number; bytes: number }>) {
    ledger.loadHead(r.tkey, r.oldestId, r.n, r.bytes);
  }
}
