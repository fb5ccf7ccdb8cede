/**
 * Hex-frame device, for the example parser `parsers/examples/hex-sensor.js`. A 5-byte frame:
 *   bytes 0-1 battery mV (uint16 BE), bytes 2-3 temperature ×10 °C (int16 BE), byte 4 humidity %.
 * The payload is raw bytes, so it cannot carry `sim_seq`: loss accounting covers the JSON profiles only.
 */
import type { Rng } from '../../random.js';
import type { BadKind } from '../types.js';
import type { DeviceProfile, Payload } from './payload.js';

export const HEX_FRAME_BYTES = 5;

export function encodeHexFrame(batteryMv: number, temperatureC: number, humidityPct: number): Buffer {
  const b = Buffer.alloc(HEX_FRAME_BYTES);
  b.writeUInt16BE(Math.round(batteryMv) & 0xffff, 0);
  b.writeInt16BE(Math.max(-32768, Math.min(32767, Math.round(temperatureC * 10))), 2);
  b.writeUInt8(Math.max(0, Math.min(100, Math.round(humidityPct))), 4);
  return b;
}

export function hexProfile(rng: Rng): DeviceProfile {
  let battery = 3300 + rng() * 900;
  let temperature = 15 + rng() * 15;
  let humidity = 40 + rng() * 30;
  return {
    name: 'hex',
    carriesSeq: false,
    badKinds: ['bad-hex-frame'],
    next(): Payload {
      battery = Math.max(2800, battery - rng() * 0.5);
      temperature = Math.min(50, Math.max(-20, temperature + (rng() * 2 - 1) * 0.3));
      humidity = Math.min(100, Math.max(0, humidity + (rng() * 2 - 1)));
      return { type: 'frame', bytes: encodeHexFrame(battery, temperature, humidity) };
    },
    bad(kind: BadKind): Payload {
      if (kind !== 'bad-hex-frame') throw new Error(`bad kind ${kind} does not apply to the hex profile`);
      // A truncated frame (3 of 5 bytes): the parser must refuse it.
      return { type: 'frame', bytes: Buffer.from([0x0e, 0x10, 0xff]) };
    },
  };
}
