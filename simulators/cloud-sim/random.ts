/**
 * Seeded dice for fault injection (mulberry32): the same seed gives the same error and drop decisions, so a
 * failing load test can be replayed exactly.
 */
export type Dice = () => number;

export function seededDice(seed: number): Dice {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
