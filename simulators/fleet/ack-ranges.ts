/**
 * Acknowledged sequence numbers of one device as sorted, disjoint, inclusive ranges. Acks arrive nearly in
 * order, so the common case extends the last range in O(1); an out-of-order ack is inserted by binary search
 * and merged with its neighbours. Invariant: ranges[i][1] + 1 < ranges[i+1][0].
 */
export class AckRanges {
  readonly ranges: Array<[number, number]> = [];

  add(seq: number): void {
    const r = this.ranges;
    const last = r[r.length - 1];
    if (last && seq === last[1] + 1) {
      last[1] = seq;
      return;
    }
    if (!last || seq > last[1] + 1) {
      r.push([seq, seq]);
      return;
    }
    // First range whose end is >= seq - 1.
    let lo = 0;
    let hi = r.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (r[mid]![1] < seq - 1) lo = mid + 1;
      else hi = mid;
    }
    const cur = r[lo]!;
    if (seq >= cur[0] && seq <= cur[1]) return; // duplicate ack
    if (seq === cur[1] + 1) {
      cur[1] = seq;
      const next = r[lo + 1];
      if (next && next[0] === seq + 1) {
        cur[1] = next[1];
        r.splice(lo + 1, 1);
      }
    } else if (seq === cur[0] - 1) {
      cur[0] = seq;
    } else {
      r.splice(lo, 0, [seq, seq]);
    }
  }

  /** Number of distinct acknowledged seqs. */
  get size(): number {
    let n = 0;
    for (const [a, b] of this.ranges) n += b - a + 1;
    return n;
  }
}

/** Expand ranges into seqs (for tests and for comparing with `GET /_sim/received`). */
export function expandRanges(ranges: ReadonlyArray<readonly [number, number]>): number[] {
  const out: number[] = [];
  for (const [a, b] of ranges) for (let s = a; s <= b; s++) out.push(s);
  return out;
}

/**
 * How many acknowledged points are missing from what arrived upstream (`GET /_sim/received`, or seqs read
 * back from TagoIO): acknowledged ranges per device against the sequences received per device.
 */
export function countMissing(
  acked: Readonly<Record<string, ReadonlyArray<readonly [number, number]>>>,
  received: Readonly<Record<string, readonly number[]>>,
): number {
  let missing = 0;
  for (const [device, ranges] of Object.entries(acked)) {
    const have = new Set(received[device] ?? []);
    for (const [a, b] of ranges) for (let s = a; s <= b; s++) if (!have.has(s)) missing++;
  }
  return missing;
}
