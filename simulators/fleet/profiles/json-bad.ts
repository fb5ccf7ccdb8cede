/**
 * Invalid JSON-profile input, one generator per kind. Each breaks exactly one TagoIO record rule (SPEC.md
 * "HTTP ingest"), so the target must refuse it with a 400 (HTTP) or dead-letter it (MQTT).
 */
import type { BadKind } from '../types.js';
import type { Payload, SimMetadata } from './payload.js';

export const JSON_BAD_KINDS: readonly BadKind[] = [
  'forbidden-char',
  'missing-variable',
  'value-too-long',
  'invalid-json',
];

/** A value longer than TagoIO's 6 kB limit. */
const TOO_LONG = 'x'.repeat(6 * 1024 + 1);

export function jsonBad(kind: BadKind, meta: SimMetadata): Payload {
  switch (kind) {
    case 'forbidden-char':
      return { type: 'json', value: { variable: 'temp-1.bad', value: 1, metadata: meta } };
    case 'missing-variable':
      return { type: 'json', value: { value: 1, unit: 'C', metadata: meta } };
    case 'value-too-long':
      return { type: 'json', value: { variable: 'note', value: TOO_LONG, metadata: meta } };
    case 'invalid-json':
      return { type: 'text', text: `{"variable":"temperature","value":` };
    default:
      throw new Error(`bad kind ${kind} does not apply to JSON profiles`);
  }
}
