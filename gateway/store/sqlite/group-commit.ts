/**
 * When the store commits: appends and acks queue here and go to the commit thread together, one
 * transaction per group.
 *
 * Rules (tested with a hand-driven clock in test/store/group-commit-scheduling.test.ts):
 * - With no commit in flight, a group commits `groupCommitMs` after its oldest item was queued.
 * - A full group (FULL_GROUP_APPENDS appends) need not wait: it commits at the end of the event-loop turn
 *   that filled it, with whatever else that turn queues (a parser batch's messages arrive together).
 * - One commit at a time (two in flight measured no faster and made a quarter more commits). While one is
 *   in flight, what queues is the next group; it starts as soon as that one has committed, before its
 *   callers are answered, so the fsync of one group overlaps the answers to the one before (HTTP +7 %
 *   over starting it on a timer after the answers).
 * - A failed group is retried: the acks together, then each append alone, so one bad append (or a
 *   transient error) does not fail its neighbours. A group of one fails at once.
 */
import type { Clock, ClockTimer } from '../../clock.js';
import type { PackedRow } from './row-packing.js';

/**
 * Appends that make a group worth committing without waiting out `groupCommitMs`: more than the HTTP closed
 * loop gathers between commits (~50 at 100 connections), fewer than a parser batch brings at once (~175).
 */
export const FULL_GROUP_APPENDS = 128;

export interface QueuedAppend {
  token: string;
  tkey: string;
  rows: PackedRow[];
  points: number;
  bytes: number;
  resolve(): void;
  reject(err: unknown): void;
}

export interface QueuedAck {
  ids: number[];
  resolve(): void;
  reject(err: unknown): void;
}

export interface GroupCommitOptions {
  groupCommitMs: number;
  clock: Clock;
  /** One transaction holding these acks and appends; resolves once it has committed and been applied. */
  commit(appends: QueuedAppend[], acks: QueuedAck[]): Promise<void>;
  /** The append could not be committed (after its retry): reject it. */
  appendFailed(a: QueuedAppend, err: unknown): void;
  acksFailed(acks: QueuedAck[], err: unknown): void;
  /** After each commit in flight has ended, before the next starts (the store reloads here if it must). */
  released?(): void;
}

export class GroupCommit {
  private appends: QueuedAppend[] = [];
  private acks: QueuedAck[] = [];
  /** Bytes of the appends queued or in flight (not yet in the ledger). */
  queuedBytes = 0;
  private timer: ClockTimer | null = null;
  private immediate: NodeJS.Immediate | null = null;
  /** When the oldest queued item was queued (clock.monotonic()). */
  private queuedSince = 0;
  private committing: Promise<void> | null = null;

  constructor(private readonly opts: GroupCommitOptions) {}

  get inFlight(): boolean {
    return this.committing !== null;
  }

  append(a: QueuedAppend): void {
    this.appends.push(a);
    this.queuedBytes += a.bytes;
    this.queued();
  }

  ack(a: QueuedAck): void {
    this.acks.push(a);
    this.queued();
  }

  /** An append left the queue without reaching the ledger (it failed). */
  forget(a: QueuedAppend): void {
    this.queuedBytes -= a.bytes;
  }

  /** Commits what is queued now and waits until no commit is in flight (close). */
  async drain(): Promise<void> {
    this.flush();
    while (this.committing) await this.committing;
  }

  private queued(): void {
    if (this.appends.length + this.acks.length === 1) this.queuedSince = this.opts.clock.monotonic();
    if (this.appends.length === FULL_GROUP_APPENDS && this.timer !== null) {
      this.opts.clock.clearTimeout(this.timer);
      this.timer = null;
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.immediate || this.committing) return;
    const ms =
      this.appends.length >= FULL_GROUP_APPENDS
        ? 0
        : this.opts.groupCommitMs - (this.opts.clock.monotonic() - this.queuedSince);
    if (ms >= 1) this.timer = this.opts.clock.setTimeout(() => this.flush(), ms);
    // The end of this event-loop turn (read at call time, so fake timers control it too).
    else this.immediate = setImmediate(() => this.flush());
  }

  /** Starts the group commit of everything queued; while it runs, new items queue for the next one. */
  private flush(): void {
    if (this.timer) this.opts.clock.clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    if (this.committing) return;
    const appends = this.appends;
    const acks = this.acks;
    if (appends.length === 0 && acks.length === 0) return;
    this.appends = [];
    this.acks = [];
    const committing: Promise<void> = this.commitAll(appends, acks).finally(() => {
      // Still ours: the commit failed (or was retried) and `release(true)` did not run.
      if (this.committing === committing) this.release(false);
    });
    this.committing = committing;
  }

  /** The commit in flight has ended; `next`: start the next group now (its callers are about to be answered). */
  private release(next: boolean): void {
    this.committing = null;
    this.opts.released?.();
    if (this.appends.length > 0 || this.acks.length > 0) {
      if (next) this.flush();
      else this.schedule();
    }
  }

  private async commitAll(appends: QueuedAppend[], acks: QueuedAck[]): Promise<void> {
    let committed = false;
    try {
      await this.opts.commit(appends, acks);
      committed = true;
    } catch (err) {
      if (appends.length + acks.length === 1) {
        if (appends[0]) this.opts.appendFailed(appends[0], err);
        else this.opts.acksFailed(acks, err);
        return;
      }
    }
    if (committed) {
      try {
        this.release(true);
      } finally {
        for (const a of acks) a.resolve();
        for (const a of appends) a.resolve();
      }
      return;
    }
    if (acks.length > 0) {
      try {
        await this.opts.commit([], acks);
        for (const a of acks) a.resolve();
      } catch (e) {
        this.opts.acksFailed(acks, e);
      }
    }
    for (const a of appends) {
      try {
        await this.opts.commit([a], []);
        a.resolve();
      } catch (e) {
        this.opts.appendFailed(a, e);
      }
    }
  }
}
