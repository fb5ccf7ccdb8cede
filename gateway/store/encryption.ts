/**
 * Encryption at rest for the SQLite store: AES-256-GCM (node:crypto), a random 12-byte IV per value.
 *
 * - A sealed value is `iv (12) | tag (16) | ciphertext`. GCM authenticates it, so a flipped byte is
 *   detected at `open()` instead of being forwarded as data.
 * - Sub-keys are derived from the operator's 32-byte key with HKDF-SHA256, one per purpose, so the same
 *   key material never serves both as a cipher key and as an HMAC key.
 * - Tokens are looked up by `HMAC-SHA256(lookupKey, token)`: rows can be grouped per device without the
 *   token being readable in the file.
 * - The meta table keeps a key check value (an HMAC of a constant): a wrong key is refused at start-up
 *   rather than turning every row into a "tampered" dead letter. The key itself is never logged.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { StoreOpenError } from '../errors.js';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

export const KEY_ENV = 'TAGO_EDGE_STORE_KEY';

/** A GCM authentication failure: the stored bytes are not what this key sealed. */
export class TamperedError extends Error {}

export class Cipher {
  private readonly sealKey: Buffer;
  private readonly lookupKey: Buffer;
  /** Hex HMAC of a constant: stored in meta, compared at open. */
  readonly checkValue: string;

  constructor(key: Buffer) {
    if (key.length !== KEY_BYTES) throw new StoreOpenError(`store: encryption key must be 32 bytes, got ${key.length}`);
    const derive = (info: string) => Buffer.from(hkdfSync('sha256', key, 'tago-edge-store', info, KEY_BYTES));
    this.sealKey = derive('seal');
    this.lookupKey = derive('lookup');
    this.checkValue = createHmac('sha256', derive('check')).update('tago-edge key check v1').digest('hex');
  }

  /** `aad` binds the value to its context (e.g. the token key of its row): moving it elsewhere fails auth. */
  seal(plain: string | Buffer, aad: string): Buffer {
    const iv = randomBytes(IV_BYTES);
    const c = createCipheriv('aes-256-gcm', this.sealKey, iv);
    c.setAAD(Buffer.from(aad));
    const ct = Buffer.concat([c.update(plain), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), ct]);
  }

  /** Throws TamperedError when the value fails authentication. */
  open(sealed: Buffer, aad: string): string {
    if (!Buffer.isBuffer(sealed) || sealed.length < IV_BYTES + TAG_BYTES)
      throw new TamperedError('sealed value too short');
    try {
      const d = createDecipheriv('aes-256-gcm', this.sealKey, sealed.subarray(0, IV_BYTES));
      d.setAAD(Buffer.from(aad));
      d.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([d.update(sealed.subarray(IV_BYTES + TAG_BYTES)), d.final()]).toString('utf8');
    } catch {
      throw new TamperedError('authentication failed (AES-256-GCM)');
    }
  }

  /** The lookup key stored in place of a token. */
  tokenKey(token: string): string {
    return createHmac('sha256', this.lookupKey).update(token).digest('base64url');
  }
}

/** Parses a key given as 64 hex characters, base64, or 32 raw bytes. `where` names the source for errors. */
export function parseKey(raw: Buffer, where: string): Buffer {
  const text = raw.toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/_-]{42,44}={0,2}$/.test(text)) {
    const b = Buffer.from(text, /[-_]/.test(text) ? 'base64url' : 'base64');
    if (b.length === KEY_BYTES) return b;
  }
  if (raw.length === KEY_BYTES) return raw;
  // Never echo the content: it is (a wrong form of) the secret.
  throw new StoreOpenError(
    `${where}: expected a 32-byte key as 64 hex characters, base64, or 32 raw bytes (got ${raw.length} bytes); generate one with \`openssl rand -hex 32\``,
  );
}

/** The key from `store.encryptionKeyFile` if set, else from TAGO_EDGE_STORE_KEY, else none. */
export function loadKey(keyFile: string | undefined, env: NodeJS.ProcessEnv = process.env): Buffer | undefined {
  if (keyFile) {
    let raw: Buffer;
    try {
      raw = readFileSync(keyFile);
    } catch (err) {
      throw new StoreOpenError(
        `store.encryptionKeyFile: cannot read ${keyFile} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      );
    }
    return parseKey(raw, `store.encryptionKeyFile (${keyFile})`);
  }
  const v = env[KEY_ENV];
  if (v !== undefined && v !== '') return parseKey(Buffer.from(v, 'utf8'), KEY_ENV);
  return undefined;
}
