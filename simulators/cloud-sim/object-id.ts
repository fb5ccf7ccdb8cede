import { createHash, randomBytes } from 'node:crypto';

/**
 * TagoIO ids are 24-hex MongoDB ObjectIds: 4 bytes of epoch seconds, 5 random bytes fixed per process and a
 * 3-byte counter, so ids sort by creation like the real ones.
 */
const processPart = randomBytes(5).toString('hex');
let counter = randomBytes(3).readUIntBE(0, 3);

export function objectId(nowMs: number): string {
  counter = (counter + 1) % 0x1000000;
  const seconds = Math.floor(nowMs / 1000) >>> 0;
  return seconds.toString(16).padStart(8, '0') + processPart + counter.toString(16).padStart(6, '0');
}

const deviceIds = new Map<string, string>();
/** Bounds the memo: a test that invents a token per request must not grow it forever. */
const DEVICE_ID_MEMO = 100_000;

/** A device id derived from the token, so the same token maps to the same device across restarts. */
export function deviceIdFor(token: string): string {
  let id = deviceIds.get(token);
  if (id === undefined) {
    id = createHash('sha256').update(`cloud-sim-device:${token}`).digest('hex').slice(0, 24);
    if (deviceIds.size >= DEVICE_ID_MEMO) deviceIds.clear();
    deviceIds.set(token, id);
  }
  return id;
}
