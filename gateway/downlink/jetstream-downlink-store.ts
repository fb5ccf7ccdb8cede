/**
 * The downlink's store in a cluster (`store.engine: jetstream`): the JetStream KV bucket
 * `<prefix>_downlink` (replicated like the points' stream, history 1), shared by every node, so a command
 * accepted on any node is queued once for the whole cluster and its status reads the same everywhere.
 *   m.<id>                         one message, JSON (payload base64): status, reason, times
 *   pulled.<device>.<record>       a TagoIO record taken by pull mode: {"id": message id, "at"}
 *   node.<name>                    written at start, to know when the watch has caught up
 * Each node keeps every entry of the bucket in memory (commands are few) through a watch, so the reads the
 * service makes (get, queuedFor, retained, depth …) are synchronous, as with the SQLite store.
 *
 * Invariants:
 * - `enqueue` resolves after the quorum stored the message (`kv.create`): POST /publish answers 200 after.
 * - A status changes only from `queued`, and only once cluster-wide: every change is a `kv.update` at the
 *   revision this node last saw; if another node changed the message first (delivered it, expired it),
 *   the update is refused and this node takes the new value from the watch.
 * - A node hands every message another node queued to the devices subscribed to it (onQueuedElsewhere),
 *   so a command reaches its device whichever node the device is connected to.
 * - A pulled record is claimed with `kv.create` on its key before its message is written, under the
 *   message id the claim names: it becomes one message cluster-wide. A claim whose message is missing (the
 *   node stopped between the two writes) is not counted as pulled, so the record is taken again and its
 *   message written under the claimed id.
 * Best effort across nodes: `maxQueued` and `maxQueuedPerDevice` are counted from this node's view, so two
 * nodes accepting at the same moment may each let one more in. The order of a device's queue is the
 * accepting nodes' clocks (createdAt, then id).
 */
import { randomUUID } from 'node:crypto';
import type { KV, KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/nats-core';
import { DownlinkQueueFullError, StoreUnavailableError } from '../errors.js';
import type { Logger } from '../log.js';
import { type DownlinkQueue, type PulledRecord, queuedMessage } from './downlink-queue.js';
import type { DownlinkInput, DownlinkMessage, DownlinkStatus, EnqueueResult } from './downlink-store.js';
import { TOPIC_TARGET } from './target.js';

export interface JetStreamDownlinkStoreOptions {
  kv: KV;
  /** This node's name (`store.jetstream.node`). */
  node: string;
  ttlMs: number;
  maxQueuedPerDevice: number;
  maxQueued: number;
  retryAfterSeconds: number;
  log: Logger;
}

interface Stored {
  id: string;
  target: string;
  topic: string;
  payload: string;
  qos: 0 | 1;
  retain: boolean;
  source: 'push' | 'pull';
  status: DownlinkStatus;
  reason: string | null;
  createdAt: number;
  expiresAt: number;
  finishedAt: number | null;
}

interface Cached {
  msg: DownlinkMessage;
  revision: number;
}

interface Claim {
  id: string;
  at: number;
  revision: number;
}

const BATCH = 1_000;
/** How long a starting node waits for its watch to bring the bucket's contents. */
const CATCH_UP_MS = 30_000;

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');
const messageKey = (id: string) => `m.${id}`;
const claimKey = (p: PulledRecord) => `pulled.${b64(p.deviceId)}.${b64(p.recordId)}`;

/** A KV write refused because the key changed (or exists) since the revision given. */
function isConflict(err: unknown): boolean {
  return /wrong last sequence|key exists|10071/i.test((err as Error)?.message ?? '');
}

function encode(m: DownlinkMessage): string {
  const s: Stored = {
    id: m.id,
    target: m.target,
    topic: m.topic,
    payload: m.payload.toString('base64'),
    qos: m.qos,
    retain: m.retain,
    source: m.source,
    status: m.status,
    reason: m.reason,
    createdAt: m.createdAt,
    expiresAt: m.expiresAt,
    finishedAt: m.finishedAt,
  };
  return JSON.stringify(s);
}

function decode(s: Stored): DownlinkMessage {
  return { ...s, payload: Buffer.from(s.payload, 'base64') };
}

/** Oldest first: the accepting node's clock, then the id. */
const byAge = (a: DownlinkMessage, b: DownlinkMessage) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1);

export class JetStreamDownlinkStore implements DownlinkQueue {
  readonly #opts: JetStreamDownlinkStoreOptions;
  readonly #messages = new Map<string, Cached>();
  /** Pulled record claims by key. */
  readonly #claims = new Map<string, Claim>();
  /** Messages this node is creating: the watch must not hand them over as another node's. */
  readonly #mine = new Set<string>();
  readonly #listeners: Array<(msg: DownlinkMessage) => void> = [];
  #watch: QueuedIterator<KvWatchEntry> | undefined;
  #watching: Promise<void> | undefined;
  #closed = false;

  private constructor(opts: JetStreamDownlinkStoreOptions) {
    this.#opts = opts;
  }

  /** Opens the store once its watch holds everything the bucket held at start. */
  static async open(opts: JetStreamDownlinkStoreOptions): Promise<JetStreamDownlinkStore> {
    const store = new JetStreamDownlinkStore(opts);
    try {
      await store.#start();
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  async #start(): Promise<void> {
    const { kv, node } = this.#opts;
    // Written after the watch began: once the watch brings it, it has brought all that came before.
    const marker = `node.${b64(node)}`;
    const token = randomUUID();
    let caughtUp!: () => void;
    const ready = new Promise<void>((resolve) => {
      caughtUp = resolve;
    });
    const first = await kv.watch({ key: '>' });
    this.#watching = this.#follow(first, (e) => {
      if (e.key === marker && e.operation === 'PUT' && e.string() === token) caughtUp();
    });
    await this.#write(() => kv.put(marker, token), 'mark the start');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StoreUnavailableError(`downlink: the bucket's watch did not catch up in ${CATCH_UP_MS} ms`)),
        CATCH_UP_MS,
      );
    });
    try {
      await Promise.race([ready, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Applies the watch to the cache until close. A watch that ends (its consumer lost with a server) is
   * opened again from the start: the bucket keeps each key's last value, a deletion included, so the
   * new watch brings every change missed in between, and entries already seen are skipped by revision.
   */
  async #follow(first: QueuedIterator<KvWatchEntry>, seen: (e: KvWatchEntry) => void): Promise<void> {
    let watch: QueuedIterator<KvWatchEntry> | undefined = first;
    while (!this.#closed) {
      try {
        watch ??= await this.#opts.kv.watch({ key: '>' });
        this.#watch = watch;
        for await (const e of watch) {
          seen(e);
          this.#apply(e);
        }
      } catch (err) {
        if (!this.#closed) this.#opts.log.warn({ err: (err as Error).message }, 'downlink: the cluster watch failed');
      }
      watch = undefined;
      if (this.#closed) return;
      this.#opts.log.warn({}, 'downlink: the cluster watch ended; watching again');
      await new Promise((r) => setTimeout(r, 1_000).unref());
    }
  }

  #apply(e: KvWatchEntry): void {
    if (e.key.startsWith('m.')) {
      const id = e.key.slice(2);
      const known = this.#messages.get(id);
      if (e.operation !== 'PUT') {
        this.#messages.delete(id);
        return;
      }
      if (known && known.revision >= e.revision) return;
      let msg: DownlinkMessage;
      try {
        msg = decode(e.json<Stored>());
      } catch {
        this.#opts.log.warn({ key: e.key }, 'downlink: an entry of the bucket is not a message; ignored');
        return;
      }
      this.#messages.set(id, { msg, revision: e.revision });
      const ours = this.#mine.delete(id);
      if (!known && !ours && msg.status === 'queued') {
        for (const l of this.#listeners) l(msg);
      }
    } else if (e.key.startsWith('pulled.')) {
      if (e.operation !== 'PUT') {
        this.#claims.delete(e.key);
        return;
      }
      try {
        const c = e.json<{ id: string; at: number }>();
        this.#claims.set(e.key, { id: c.id, at: c.at, revision: e.revision });
      } catch {
        // not a claim: ignored
      }
    }
  }

  /** A write to the cluster: a refusal other than a conflict becomes StoreUnavailableError (503). */
  async #write<T>(work: () => Promise<T>, what: string): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (isConflict(err)) throw err;
      throw new StoreUnavailableError(
        `downlink: the cluster did not store the change (${what}: ${(err as Error).message}); nothing was acknowledged`,
        { retryAfterSeconds: this.#opts.retryAfterSeconds, cause: err },
      );
    }
  }

  onQueuedElsewhere(listener: (msg: DownlinkMessage) => void): void {
    this.#listeners.push(listener);
  }

  async enqueue(input: DownlinkInput, now: number, pulled?: PulledRecord): Promise<EnqueueResult> {
    const { kv, maxQueued, maxQueuedPerDevice, ttlMs, retryAfterSeconds } = this.#opts;
    const depth = this.depth();
    if (depth >= maxQueued) {
      throw new DownlinkQueueFullError(
        `${depth} downlink messages are waiting (downlink.maxQueued ${maxQueued}); post again later`,
        { retryAfterSeconds },
      );
    }
    let id: string = randomUUID();
    if (pulled) {
      const key = claimKey(pulled);
      try {
        const revision = await this.#write(() => kv.create(key, JSON.stringify({ id, at: now })), 'claim the record');
        this.#claims.set(key, { id, at: now, revision });
      } catch (err) {
        if (!isConflict(err)) throw err;
        // Claimed before: by another node, or by this one before it stopped short of writing the message.
        const claimed = await this.#write(() => kv.get(key), 'read the claim');
        const c = claimed?.json<{ id: string }>();
        if (!c) throw err;
        id = c.id;
        const existing = this.#messages.get(id);
        if (existing) return { message: existing.msg, overflowed: [], duplicate: true };
      }
    }
    const overflowed: DownlinkMessage[] = [];
    const inTarget = this.#queued((m) => m.target === input.target);
    const over = inTarget.length + 1 - maxQueuedPerDevice;
    for (const old of inTarget.slice(0, Math.max(0, over))) {
      const done = await this.#finish(old.id, 'dead_letter', 'overflow', now);
      if (done) overflowed.push(done);
    }
    const message = queuedMessage(input, id, now, ttlMs);
    this.#mine.add(id);
    try {
      const revision = await this.#write(() => kv.create(messageKey(id), encode(message)), 'queue the message');
      const known = this.#messages.get(id);
      if (!known || known.revision < revision) this.#messages.set(id, { msg: message, revision });
    } catch (err) {
      this.#mine.delete(id);
      if (pulled && isConflict(err)) {
        // Another node wrote the claimed record's message at the same moment.
        const e = await this.#write(() => kv.get(messageKey(id)), 'read the message');
        if (e && e.operation === 'PUT') return { message: decode(e.json<Stored>()), overflowed, duplicate: true };
      }
      throw err;
    }
    return { message, overflowed };
  }

  /** queued → status at the revision this node holds; the message as changed, or undefined if refused. */
  async #finish(id: string, status: DownlinkStatus, reason: string, now: number): Promise<DownlinkMessage | undefined> {
    const c = this.#messages.get(id);
    if (c?.msg.status !== 'queued') return undefined;
    const next: DownlinkMessage = { ...c.msg, status, reason, finishedAt: now };
    try {
      const revision = await this.#write(
        () => this.#opts.kv.update(messageKey(id), encode(next), c.revision),
        `mark ${status}`,
      );
      const known = this.#messages.get(id);
      if (!known || known.revision < revision) this.#messages.set(id, { msg: next, revision });
      return next;
    } catch (err) {
      // Changed by another node first: its value comes with the watch.
      if (isConflict(err)) return undefined;
      throw err;
    }
  }

  async markDelivered(id: string, now: number, via: 'mqtt' | 'http'): Promise<boolean> {
    return (await this.#finish(id, 'delivered', via, now)) !== undefined;
  }

  async expire(now: number): Promise<DownlinkMessage[]> {
    const due = this.#queued((m) => m.expiresAt <= now).slice(0, BATCH);
    const out: DownlinkMessage[] = [];
    for (const m of due) {
      const done = await this.#finish(m.id, 'expired', 'ttl', now);
      if (done) out.push(done);
    }
    return out;
  }

  async prune(before: number): Promise<number> {
    const { kv } = this.#opts;
    // Claims first: a claim is never left pointing at a message pruned before it (that would read as a
    // claim whose message was never written).
    for (const [key, c] of [...this.#claims]) {
      if (c.at > before) continue;
      await this.#write(() => kv.delete(key, { previousSeq: c.revision }), 'prune a claim').catch(() => undefined);
      this.#claims.delete(key);
    }
    const keep = this.#retainedIds();
    let n = 0;
    for (const [id, c] of [...this.#messages]) {
      const m = c.msg;
      if (m.status === 'queued' || m.finishedAt === null || m.finishedAt > before || keep.has(id)) continue;
      try {
        await this.#write(() => kv.delete(messageKey(id), { previousSeq: c.revision }), 'prune a message');
        this.#messages.delete(id);
        n++;
      } catch {
        // changed or pruned by another node meanwhile
      }
    }
    return n;
  }

  #queued(pred: (m: DownlinkMessage) => boolean): DownlinkMessage[] {
    const out: DownlinkMessage[] = [];
    for (const { msg } of this.#messages.values()) if (msg.status === 'queued' && pred(msg)) out.push(msg);
    return out.sort(byAge);
  }

  /** Each topic's latest retained message (an empty one is kept too: it is what cleared the topic). */
  #latestRetained(): Map<string, DownlinkMessage> {
    const latest = new Map<string, DownlinkMessage>();
    for (const { msg } of this.#messages.values()) {
      if (!msg.retain) continue;
      const prev = latest.get(msg.topic);
      if (!prev || byAge(prev, msg) < 0) latest.set(msg.topic, msg);
    }
    return latest;
  }

  #retainedIds(): Set<string> {
    return new Set([...this.#latestRetained().values()].map((m) => m.id));
  }

  queuedFor(targets: readonly string[], now: number): DownlinkMessage[] {
    const set = new Set(targets);
    return this.#queued((m) => set.has(m.target) && m.expiresAt > now);
  }

  queuedUntargeted(now: number): DownlinkMessage[] {
    return this.#queued((m) => m.target.startsWith(TOPIC_TARGET) && m.expiresAt > now);
  }

  get(id: string): DownlinkMessage | undefined {
    return this.#messages.get(id)?.msg;
  }

  list(status: DownlinkStatus, limit: number): DownlinkMessage[] {
    const out: DownlinkMessage[] = [];
    for (const { msg } of this.#messages.values()) if (msg.status === status) out.push(msg);
    return out.sort((a, b) => byAge(b, a)).slice(0, limit);
  }

  retained(): DownlinkMessage[] {
    return [...this.#latestRetained().values()].filter((m) => m.payload.length > 0).sort(byAge);
  }

  isPulled(deviceId: string, recordId: string): boolean {
    const c = this.#claims.get(claimKey({ deviceId, recordId }));
    return c !== undefined && this.#messages.has(c.id);
  }

  depth(): number {
    let n = 0;
    for (const { msg } of this.#messages.values()) if (msg.status === 'queued') n++;
    return n;
  }

  counts(): Record<DownlinkStatus, number> {
    const out: Record<DownlinkStatus, number> = { queued: 0, delivered: 0, expired: 0, dead_letter: 0 };
    for (const { msg } of this.#messages.values()) out[msg.status]++;
    return out;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watch?.stop();
    await this.#watching;
    await this.#opts.kv.delete(`node.${b64(this.#opts.node)}`).catch(() => undefined);
  }
}
