/**
 * Loss and duplicate accounting for simulated devices. A simulated point carries `metadata.sim_device`
 * (string) and `metadata.sim_seq` (integer); only stored points are counted (a dropped request is loss, by
 * design). Invariant: `unique === seqs.size` and `received === unique + duplicates`.
 * `outOfOrder` counts first arrivals older than a sequence already received (a point overtaken by a newer
 * one of the same device); redeliveries of already received points are duplicates, not out of order.
 */
export interface SequenceStats {
  received: number;
  unique: number;
  duplicates: number;
  outOfOrder: number;
  maxSeq: number;
}

interface DeviceSeqs {
  seqs: Set<number>;
  received: number;
  duplicates: number;
  outOfOrder: number;
  maxSeq: number;
}

export class SequenceBook {
  readonly #devices = new Map<string, DeviceSeqs>();

  /** Counts the point if its metadata names a simulated device and sequence. */
  note(metadata: Record<string, unknown> | undefined): void {
    const device = metadata?.sim_device;
    const seq = metadata?.sim_seq;
    if (typeof device !== 'string' || typeof seq !== 'number' || !Number.isInteger(seq)) return;
    let d = this.#devices.get(device);
    if (!d) {
      d = { seqs: new Set(), received: 0, duplicates: 0, outOfOrder: 0, maxSeq: seq };
      this.#devices.set(device, d);
    }
    d.received++;
    if (d.seqs.has(seq)) d.duplicates++;
    else {
      if (seq < d.maxSeq) d.outOfOrder++;
      d.seqs.add(seq);
    }
    if (seq > d.maxSeq) d.maxSeq = seq;
  }

  stats(): Record<string, SequenceStats> {
    const out: Record<string, SequenceStats> = {};
    for (const [name, d] of this.#devices) {
      out[name] = {
        received: d.received,
        unique: d.seqs.size,
        duplicates: d.duplicates,
        outOfOrder: d.outOfOrder,
        maxSeq: d.maxSeq,
      };
    }
    return out;
  }

  /**
   * Unique sequences per simulated device, optionally for one device only: sorted, or with `arrival` in the
   * order they first arrived (a Set keeps insertion order).
   */
  received(device?: string, order: 'sorted' | 'arrival' = 'sorted'): Record<string, number[]> {
    const out: Record<string, number[]> = {};
    for (const [name, d] of this.#devices) {
      if (device !== undefined && name !== device) continue;
      out[name] = order === 'arrival' ? [...d.seqs] : [...d.seqs].sort((a, b) => a - b);
    }
    return out;
  }

  clear(): void {
    this.#devices.clear();
  }
}
