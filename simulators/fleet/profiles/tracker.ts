/** Tracker: a `location` record ({lat, lng}) moving in a random walk around a seeded start. */
import type { Rng } from '../../random.js';
import type { BadKind } from '../types.js';
import { JSON_BAD_KINDS, jsonBad } from './json-bad.js';
import type { DeviceProfile, Payload, SimMetadata } from './payload.js';

export function trackerProfile(rng: Rng): DeviceProfile {
  let lat = -23.55 + (rng() - 0.5) * 0.2;
  let lng = -46.63 + (rng() - 0.5) * 0.2;
  return {
    name: 'tracker',
    carriesSeq: true,
    badKinds: JSON_BAD_KINDS,
    next(meta: SimMetadata): Payload {
      lat = Math.min(89, Math.max(-89, lat + (rng() - 0.5) * 0.001));
      lng = Math.min(179, Math.max(-179, lng + (rng() - 0.5) * 0.001));
      const location = { lat: Number(lat.toFixed(6)), lng: Number(lng.toFixed(6)) };
      return {
        type: 'json',
        value: { variable: 'location', value: `${location.lat},${location.lng}`, location, metadata: meta },
      };
    },
    bad: (kind: BadKind, meta: SimMetadata) => jsonBad(kind, meta),
  };
}
