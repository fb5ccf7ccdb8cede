/**
 * Device tokens TagoIO refused (401), kept in `refused_tokens` (sealed when encrypted) so ingest refuses
 * them across restarts. The set in memory follows the table: it is loaded at open and updated once the
 * commit thread has stored a refusal, so `isRefused` is true as soon as `refuse` has resolved.
 */
import type { Logger } from 'pino';
import type { Codec, Stored } from './codec.js';
import type { Step } from './commit-protocol.js';
import type { Statements } from './statements.js';

export class RefusedTokens {
  private readonly refused = new Set<string>();

  constructor(
    private readonly st: Statements,
    private readonly codec: Codec,
    private readonly log: Logger | undefined,
    private readonly write: (steps: Step[]) => Promise<unknown>,
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

  async refuse(token: string): Promise<void> {
    if (this.refused.has(token)) return;
    const tkey = this.codec.tokenKey(token);
    await this.write([{ sql: 'insertRefused', args: [tkey, this.codec.sealToken(token, tkey)] }]);
    this.refused.add(token);
  }

  has(token: string): boolean {
    return this.refused.has(token);
  }

  list(): string[] {
    return [...this.refused];
  }
}
