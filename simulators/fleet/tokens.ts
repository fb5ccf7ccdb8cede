/**
 * Device identities. A device id is `sim-<seed>-<index>` (this is `metadata.sim_device`); its token is that id
 * hashed into a 36-character uuid-like string, so the same seed always gives the same tokens. Real tokens can
 * come from a file instead (one per line, or a JSON array of strings).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export function deviceId(seed: number, index: number): string {
  return `sim-${seed}-${index}`;
}

/** `sim-<seed>-<index>` → sha256 → `xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx` (36 chars). */
export function seededToken(seed: number, index: number): string {
  const h = createHash('sha256').update(deviceId(seed, index)).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Parse a tokens file: a JSON array of strings, or one token per line (blank lines and `#` comments skipped). */
export function parseTokens(text: string): string[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    const parsed: unknown = JSON.parse(trimmed);
    if (!Array.isArray(parsed) || !parsed.every((t) => typeof t === 'string' && t.length > 0)) {
      throw new Error('expected a JSON array of non-empty strings');
    }
    return parsed as string[];
  }
  return trimmed
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'));
}

export function readTokensFile(file: string): string[] {
  return parseTokens(readFileSync(file, 'utf8'));
}

/** The token of device `index`: from the list (round-robin) when given, else seeded. */
export function tokenFor(index: number, seed: number, tokens: readonly string[] | undefined): string {
  if (tokens && tokens.length > 0) return tokens[index % tokens.length]!;
  return seededToken(seed, index);
}
