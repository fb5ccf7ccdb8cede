/**
 * Counts and latencies of one fleet process. Every point is counted exactly once as scheduled, then either
 * acked, an error, or still unacked at the end; bad points go to `badSent` and then `rejected` or `badAcked`.
 * Latency is recorded only for acknowledged good points, from the scheduled time (honest under queueing: no
 * coordinated omission) and, separately, from the time the point was handed to a socket.
 */
import { AckRanges } from './ack-ranges.js';
import { newHistogram, recordMs } from './histogram.js';
import type { BadKind } from './types.js';

export class Accounting {
  scheduled = 0;
  sent = 0;
  resent = 0;
  acked = 0;
  errors = 0;
  readonly errorsByKind = new Map<string, number>();
  readonly badSent = new Map<BadKind, number>();
  rejected = 0;
  badAcked = 0;
  connected = 0;
  connectFailures = 0;
  disconnects = 0;
  reconnects = 0;
  /** Clock time of the latest acknowledgement (0 before the first). */
  lastAckAt = 0;
  readonly fromSchedule = newHistogram();
  readonly fromSend = newHistogram();
  readonly schedulingLag = newHistogram();
  readonly ackedByDevice = new Map<string, AckRanges>();

  lag(ms: number): void {
    recordMs(this.schedulingLag, ms);
  }

  /** A good point acknowledged. `seq` is undefined for points that carry none (hex frames). */
  ack(device: string, seq: number | undefined, scheduledAt: number, sentAt: number, ackAt: number): void {
    this.acked++;
    if (ackAt > this.lastAckAt) this.lastAckAt = ackAt;
    recordMs(this.fromSchedule, ackAt - scheduledAt);
    recordMs(this.fromSend, ackAt - sentAt);
    if (seq === undefined) return;
    let r = this.ackedByDevice.get(device);
    if (!r) {
      r = new AckRanges();
      this.ackedByDevice.set(device, r);
    }
    r.add(seq);
  }

  error(kind: string): void {
    this.errors++;
    this.errorsByKind.set(kind, (this.errorsByKind.get(kind) ?? 0) + 1);
  }

  bad(kind: BadKind): void {
    this.badSent.set(kind, (this.badSent.get(kind) ?? 0) + 1);
  }
}
