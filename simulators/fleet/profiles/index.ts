/** Profile selection: `mixed` assigns env, tracker, hex round-robin by the device's fleet index. */
import { mulberry32, seedFrom } from '../../random.js';
import type { ProfileName } from '../types.js';
import { envProfile } from './env.js';
import { hexProfile } from './hex.js';
import type { DeviceProfile } from './payload.js';
import { trackerProfile } from './tracker.js';

export type { DeviceProfile, Payload, SimMetadata } from './payload.js';

const MIXED = ['env', 'tracker', 'hex'] as const;

export function profileFor(name: ProfileName, deviceIndex: number, seed: number): DeviceProfile {
  const concrete = name === 'mixed' ? MIXED[deviceIndex % MIXED.length]! : name;
  const rng = mulberry32(seedFrom(`profile-${seed}-${deviceIndex}`));
  switch (concrete) {
    case 'env':
      return envProfile(rng);
    case 'tracker':
      return trackerProfile(rng);
    case 'hex':
      return hexProfile(rng);
  }
}
