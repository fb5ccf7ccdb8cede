/**
 * Which node forwards which partition: leases in a JetStream KV bucket whose entries expire `leaseMs` after
 * their last write (the bucket's TTL, kept by the servers, so no node's clock decides another's lease).
 * - A node writes `node.<name>` every tick: the live nodes are the keys that have not expired.
 * - A partition `p.<n>` is taken with `create` (fails if another node holds it) and kept with `update` at
 *   the revision last written (fails if anyone else wrote it since): two nodes never both renew one lease.
 * - Each node aims at its fair share, ceil(partitions / live nodes): above it, it releases partitions
 *   (others take them at their next tick); below it, it takes free ones. A dead node's leases expire and
 *   the survivors take them.
 * - A node stops forwarding a partition by itself once its last successful renewal is older than 60 % of
 *   `leaseMs`, before the servers let the lease expire for anyone else: a node cut off from the cluster
 *   stops before another starts.
 */
import type { KV } from '@nats-io/kv';
import type { Clock } from '../../clock.js';
import type { Logger } from '../../log.js';

export interface LeaseCallbacks {
  /** This node now forwards `partition` (start its consumer). */
  gained(partition: number): Promise<void> | void;
  /** This node no longer forwards `partition` (stop its consumer, drop what it held). */
  lost(partition: number): void;
}

/** What a node does this tick: the pure part of the lease protocol. */
export function planLeases(opts: {
  partitions: number;
  liveNodes: number;
  owned: ReadonlySet<number>;
  /** Partitions no node holds now. */
  free: readonly number[];
  /** Spread the nodes' picks so they do not all race for the same free partition. */
  offset: number;
}): { release: number[]; take: number[] } {
  const target = Math.ceil(opts.partitions / Math.max(1, opts.liveNodes));
  const owned = [...opts.owned].sort((a, b) => a - b);
  if (owned.length > target) return { release: owned.slice(target), take: [] };
  const want = target - owned.length;
  const free = [...opts.free].sort((a, b) => a - b);
  const start = free.length > 0 ? opts.offset % free.length : 0;
  const rotated = [...free.slice(start), ...free.slice(0, start)];
  return { release: [], take: rotated.slice(0, want) };
}

/** A KV write refused because the key changed since the revision given (another node wrote it). */
function isConflict(err: unknown): boolean {
  return /wrong last sequence|key exists|10071/i.test((err as Error)?.message ?? '');
}

export class PartitionLeases {
  private readonly owned = new Map<number, { revision: number; renewedAt: number }>();
  private timer: ReturnType<Clock['setTimeout']> | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;
  private liveNodes = 1;
  private readonly starting = new Set<Promise<void>>();
  /** Partitions dropped for want of a renewal, with the lease revision this node last wrote. */
  private readonly lapsed = new Map<number, number>();
  /** When (monotonic) the last heartbeat that the cluster stored was sent: a write the quorum acknowledged. */
  heartbeatAt: number | undefined;
  private readonly offset: number;

  constructor(
    private readonly kv: KV,
    private readonly node: string,
    private readonly partitions: number,
    private readonly leaseMs: number,
    private readonly callbacks: LeaseCallbacks,
    private readonly log: Logger,
    private readonly clock: Clock,
  ) {
    let h = 0;
    for (const c of node) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    this.offset = h;
  }

  /** The partitions this node forwards now. */
  get held(): number[] {
    return [...this.owned.keys()].sort((a, b) => a - b);
  }

  get nodes(): number {
    return this.liveNodes;
  }

  /** The share of the cluster's partitions this node forwards (its part of a shared request budget). */
  share(): number {
    return this.owned.size / this.partitions;
  }

  owns(partition: number): boolean {
    const l = this.owned.get(partition);
    return l !== undefined && this.clock.monotonic() - l.renewedAt < this.leaseMs * 0.6;
  }

  start(): void {
    const loop = () => {
      if (this.stopped) return;
      this.running = this.tick()
        .catch((err) => this.log.warn({ err: (err as Error).message }, 'cluster: lease tick failed'))
        .finally(() => {
          if (!this.stopped) this.timer = this.clock.setTimeout(loop, Math.max(200, Math.floor(this.leaseMs / 4)));
        });
    };
    loop();
  }

  /** One round: heartbeat, renew, release or take; exported for tests that drive it. */
  async tick(): Promise<void> {
    const t0 = this.clock.monotonic();
    let reachable = true;
    try {
      await this.kv.put(`node.${this.node}`, this.node);
      this.heartbeatAt = t0;
    } catch (err) {
      // Cut off from the quorum: renewals fail too. Stop forwarding once the leases run out (below).
      reachable = false;
      this.log.warn({ err: (err as Error).message }, 'cluster: heartbeat not stored');
    }
    // Renew first, and give up what can no longer be renewed in time.
    for (const [p, l] of reachable ? [...this.owned] : []) {
      try {
        l.revision = await this.kv.update(`p.${p}`, this.node, l.revision);
        l.renewedAt = t0;
      } catch (err) {
        // Someone else wrote the lease (it expired and was taken): not ours. Anything else (a timeout) may
        // pass: the lease is kept until it is too old to trust, below.
        if (isConflict(err)) this.drop(p, `renewal refused (${(err as Error).message})`);
      }
    }
    for (const [p, l] of [...this.owned]) {
      if (this.clock.monotonic() - l.renewedAt >= this.leaseMs * 0.6) {
        this.drop(p, 'not renewed in time');
        this.lapsed.set(p, l.revision);
      }
    }
    if (!reachable) return;
    // Leases this node gave up for lack of renewal, still in its name: if no one wrote them since (the
    // write at the revision it knew succeeds), they are its own again at once, not after the TTL.
    for (const [p, revision] of [...this.lapsed]) {
      try {
        const next = await this.kv.update(`p.${p}`, this.node, revision);
        this.lapsed.delete(p);
        this.owned.set(p, { revision: next, renewedAt: t0 });
        this.begin(p);
      } catch (err) {
        if (isConflict(err)) this.lapsed.delete(p);
      }
    }
    const holders = new Map<number, string>();
    // A key written while it is listed can be listed twice: count names, not listings.
    const live = new Set<string>();
    for await (const key of await this.kv.keys()) {
      if (key.startsWith('node.')) live.add(key);
      else if (key.startsWith('p.')) holders.set(Number(key.slice(2)), key);
    }
    this.liveNodes = Math.max(1, live.size);
    const free: number[] = [];
    for (let p = 0; p < this.partitions; p++) if (!holders.has(p) && !this.owned.has(p)) free.push(p);
    const plan = planLeases({
      partitions: this.partitions,
      liveNodes: this.liveNodes,
      owned: new Set(this.owned.keys()),
      free,
      offset: this.offset,
    });
    for (const p of plan.release) await this.release(p);
    for (const p of plan.take) {
      let revision: number;
      try {
        revision = await this.kv.create(`p.${p}`, this.node);
      } catch {
        // Another node took it first: it is theirs.
        continue;
      }
      this.owned.set(p, { revision, renewedAt: t0 });
      this.begin(p);
    }
  }

  /**
   * Starts forwarding a partition just taken, without holding up the lease round: a consumer made anew can
   * take seconds, and the renewals of the other partitions must not wait for it.
   */
  private begin(p: number): void {
    const start = (async () => {
      try {
        await this.callbacks.gained(p);
      } catch (err) {
        // Its forwarding did not start: hand the lease back (a node, this one included, takes it at its next
        // tick) rather than renew a lease for a partition nobody forwards.
        this.log.warn(
          { partition: p, err: (err as Error).message },
          'cluster: cannot forward partition; lease released',
        );
        if (this.owned.has(p)) await this.release(p);
      }
    })();
    this.starting.add(start);
    void start.finally(() => this.starting.delete(start));
  }

  /** Resolves once the partitions taken so far have started forwarding (or were handed back). */
  async started(): Promise<void> {
    while (this.starting.size > 0) await Promise.all([...this.starting]);
  }

  private drop(p: number, why: string): void {
    if (!this.owned.delete(p)) return;
    this.log.warn({ partition: p, why }, 'cluster: partition lease lost; another node forwards it');
    this.callbacks.lost(p);
  }

  /** Hands a partition back (its forwarding cannot run here now): any node takes it at its next tick. */
  giveBack(p: number): Promise<void> {
    return this.release(p);
  }

  private async release(p: number): Promise<void> {
    const l = this.owned.get(p);
    if (!l) return;
    this.owned.delete(p);
    this.callbacks.lost(p);
    try {
      await this.kv.delete(`p.${p}`, { previousSeq: l.revision });
    } catch {
      // Expired or taken meanwhile: either way no longer ours.
    }
  }

  /** Stops renewing and hands every partition back at once, so the other nodes take them at their next tick. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    await this.running;
    await this.started();
    for (const p of [...this.owned.keys()]) await this.release(p);
    for (const [p, revision] of [...this.lapsed]) {
      this.lapsed.delete(p);
      await this.kv.delete(`p.${p}`, { previousSeq: revision }).catch(() => {});
    }
    try {
      await this.kv.delete(`node.${this.node}`);
    } catch {
      // the cluster is gone: the key expires
    }
  }
}
