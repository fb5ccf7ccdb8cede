/**
 * Seeded randomness for the simulators and tests: the same seed gives the same tokens, random walks,
 * jitter, bad-input choices and cloud-sim fault decisions, so a run can be reproduced exactly. mulberry32
 * is small, fast and good enough for load generation.
 */
import { createHash } from 'node:crypto';

export type Rng = () => number;

/** A uniform [0, 1) generator from a 32-bit seed. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A 32-bit seed derived from a string (first 4 bytes of its SHA-256). */
export function seedFrom(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0);
}
