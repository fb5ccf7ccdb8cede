/**
 * Environmental sensor: temperature (°C), humidity (%) and pressure (hPa) as bounded random walks. One
 * scheduled point is one record, so points, messages and `sim_seq` values line up one to one; the variable
 * rotates temperature → humidity → pressure.
 */
import type { Rng } from '../../random.js';
import type { BadKind } from '../types.js';
import { JSON_BAD_KINDS, jsonBad } from './json-bad.js';
import type { DeviceProfile, Payload, SimMetadata } from './payload.js';

const round = (v: number, digits: number): number => Number(v.toFixed(digits));
const walk = (v: number, step: number, min: number, max: number, rng: Rng): number =>
  Math.min(max, Math.max(min, v + (rng() * 2 - 1) * step));

export function envProfile(rng: Rng): DeviceProfile {
  let temperature = 15 + rng() * 15;
  let humidity = 40 + rng() * 30;
  let pressure = 1000 + rng() * 25;
  let i = 0;
  return {
    name: 'env',
    carriesSeq: true,
    badKinds: JSON_BAD_KINDS,
    next(meta: SimMetadata): Payload {
      temperature = walk(temperature, 0.3, -20, 50, rng);
      humidity = walk(humidity, 1, 0, 100, rng);
      pressure = walk(pressure, 0.5, 950, 1050, rng);
      const which = i++ % 3;
      const record =
        which === 0
          ? { variable: 'temperature', value: round(temperature, 2), unit: '°C' }
          : which === 1
            ? { variable: 'humidity', value: round(humidity, 1), unit: '%' }
            : { variable: 'pressure', value: round(pressure, 1), unit: 'hPa' };
      return { type: 'json', value: { ...record, metadata: meta } };
    },
    bad: (kind: BadKind, meta: SimMetadata) => jsonBad(kind, meta),
  };
}
