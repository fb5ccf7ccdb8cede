/**
 * How values are written to the store's columns: as they are, or sealed with AES-256-GCM.
 *
 * With encryption, nothing a device sent and no token is readable in the file (or its WAL):
 * - the `token` column of points holds `HMAC(token)` (the lookup key), the token itself is sealed in
 *   `tokens` / `refused_tokens` / the dead letter body;
 * - a point's payload is sealed with its token key as associated data, so a row moved to another device
 *   fails authentication like a flipped byte does.
 * Left in clear: ids, byte counts, timestamps, dead-letter reasons and device ids (non-secret by design).
 */
import { type Cipher, TamperedError } from '../encryption.js';

export type Stored = string | Buffer;

export interface Codec {
  readonly encrypted: boolean;
  /** The value of the `token` column for a token. */
  tokenKey(token: string): string;
  sealToken(token: string, tkey: string): Stored;
  openToken(stored: Stored, tkey: string): string;
  sealPayload(json: string, tkey: string): Stored;
  /** Throws TamperedError when the value cannot be read back. */
  openPayload(stored: Stored, tkey: string): string;
  sealDeadLetter(json: string): Stored;
  openDeadLetter(stored: Stored): string;
}

function asText(stored: Stored): string {
  if (typeof stored !== 'string')
    throw new TamperedError('expected text, found a blob (encrypted row in a plain store?)');
  return stored;
}

const plain: Codec = {
  encrypted: false,
  tokenKey: (token) => token,
  sealToken: (token) => token,
  openToken: asText,
  sealPayload: (json) => json,
  openPayload: asText,
  sealDeadLetter: (json) => json,
  openDeadLetter: asText,
};

function asBlob(stored: Stored): Buffer {
  if (!Buffer.isBuffer(stored)) throw new TamperedError('expected a sealed blob, found text');
  return stored;
}

export function codecFor(cipher: Cipher | undefined): Codec {
  if (!cipher) return plain;
  return {
    encrypted: true,
    tokenKey: (token) => cipher.tokenKey(token),
    sealToken: (token, tkey) => cipher.seal(token, `token:${tkey}`),
    openToken: (stored, tkey) => cipher.open(asBlob(stored), `token:${tkey}`),
    sealPayload: (json, tkey) => cipher.seal(json, tkey),
    openPayload: (stored, tkey) => cipher.open(asBlob(stored), tkey),
    sealDeadLetter: (json) => cipher.seal(json, 'dead_letter'),
    openDeadLetter: (stored) => cipher.open(asBlob(stored), 'dead_letter'),
  };
}
