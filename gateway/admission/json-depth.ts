/**
 * A nesting limit for JSON bodies and payloads, checked on the bytes before JSON.parse. V8's parser
 * copes with any depth, but the recursive steps after it (record validation's JSON.stringify, the store
 * codec, the forwarder) overflow the stack at a few thousand levels, which would turn one hostile
 * record into an internal error (HTTP 500; over MQTT a disconnect and an endless resend). A TagoIO record
 * needs 3 levels (array → record → metadata); 64 leaves generous room for nested metadata.
 */
import { InvalidBodyError } from '../errors.js';

export const MAX_JSON_DEPTH = 64;

export function assertJsonDepth(buf: Buffer, where: string, max = MAX_JSON_DEPTH): void {
  // Nesting deeper than `max` takes more than `max` bytes of brackets.
  if (buf.length <= max) return;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > max) throw new InvalidBodyError(`${where} is nested deeper than ${max} levels`);
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
      depth--;
    }
  }
}
