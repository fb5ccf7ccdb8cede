/**
 * Device tokens TagoIO refused (401), kept in `refused_tokens` (sealed when encrypted) so ingest refuses
 * them across restarts. The set in memory follows the table: it is loaded at open and updated once a
 * refusal is stored, so `isRefused` is true as soon as `refuse` has returned.
 */
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Codec, Stored } from './codec.js';
import type { Statements } from './statements.js';

export class RefusedTokens {
  private readonly refused = new Set<string>();

  constructor(
    private readonly db: Database.Database,
    private readonly st: Statements,
    private readonly codec: Codec,
    private readonly log: Logger | undefined,
    private readonly bumpWrites: () => void,
  ) {}

  load(): void {
    this.refused.clear();
    for (const r of this.st.allRefused.all() as Array<{ tkey: string; token: Stored }>) {
      try {
        this.refused.add(this.codec.openToken(r.token, r.tkey));
      } catch {
        this.log?.error('store: a refused token failed authentication; ignored');
      }
    }
  }

  refuse(token: string): void {
    if (this.refused.has(token)) return;
    const tkey = this.codec.tokenKey(token);
    this.db.transaction(() => {
      this.st.insertRefused.run(tkey, this.codec.sealToken(token, tkey));
      this.bumpWrites();
    })();
    this.refused.add(token);
  }

  has(token: string): boolean {
    return this.refused.has(token);
  }

  list(): string[] {
    return [...this.refused];
  }
}
