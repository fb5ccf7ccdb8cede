/**
 * The cluster's store: points in a replicated JetStream stream, forwarded by whichever node holds each
 * partition's lease (leases.ts), read by the forwarders through the same PointQueue as the SQLite store.
 *
 * Invariants:
 * - `append` resolves only after JetStream's publish ack for every message of the append: with R3 that is
 *   after a quorum of servers stored it. No ack in `ackTimeoutMs` (lost quorum, no server) rejects with
 *   StoreUnavailableError; a full stream with StoreFullError. Retries inside the timeout reuse the
 *   message's Nats-Msg-Id, so a publish that landed but whose ack was lost is stored once.
 * - A point leaves the stream only when its forwarder acks the message after the destination's 2xx (or
 *   after the dead letter holding it is stored): the stream is a work queue, an ack removes the message.
 * - Per device, points are forwarded in stream order: a device's messages are on one partition's subject,
 *   one node forwards a partition at a time, and a node that takes a partition over restarts its consumer
 *   at the first unacknowledged message (provision.ts resetPartitionConsumer).
 * - Refused tokens are a KV bucket every node watches: a token TagoIO refused on one node is refused on all.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import {
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { type Clock, systemClock } from '../../clock.js';
import { EdgeError, ShuttingDownError, StoreFullError, StoreOpenError, StoreUnavailableError } from '../../errors.js';
import { events } from '../../events.js';
import type { Logger } from '../../log.js';
import type { DataRecord } from '../../model.js';
import { parseQueueKey } from '../queue-key.js';
import { DEFAULT_ROW_MAX_BYTES, packRows } from '../sqlite/row-packing.js';
import type { DeadLetter, DeadLetterInput, KeyFilter, PendingBatch, QueueShare, Store, StoreStats } from '../store.js';
import { connectCluster, type JetStreamConfig } from './connect.js';
import { PartitionLeases } from './leases.js';
import {
  APPENDED_HEADER,
  type ClusterNames,
  clusterNames,
  decodeKey,
  encodeKey,
  KEY_HEADER,
  POINTS_HEADER,
  partitionOf,
  tokenKey,
} from './names.js';
import { attach, provision, provisionDownlinkBucket, resetPartitionConsumer } from './provision.js';
import { ForwardWindow } from './window.js';

export interface JetStreamStoreOptions {
  config: JetStreamConfig;
  /** `store.maxBytes`: the stream's cap unless `store.jetstream.maxBytes` is set. */
  maxBytes: number;
  retryAfterSeconds: number;
  deviceIdOf(key: string): string;
  log: Logger;
  /** Largest stored message text (a batch of whole messages fits a request). */
  rowMaxBytes?: number;
  clock?: Clock;
  /** Use the streams and buckets as they are, creating and changing nothing (a command that reads). */
  attachOnly?: boolean;
}

/** What `/readyz` and `queue stats` show of the cluster. */
export interface ClusterStatus {
  node: string;
  nodes: number;
  partitions: { total: number; held: number[] };
  stream: {
    name: string;
    replicas: number;
    leader: string | null;
    /** Replicas the leader counts as current (the leader included). */
    current: number;
    messages: number;
    bytes: number;
  };
  /** Messages waiting in this node's partitions: not yet delivered to it, and delivered but not acked. */
  consumerLag: number;
  /** This node's partition consumers started over after a delivery was lost on the way (since start). */
  consumerRestarts: number;
  /** Points' messages forwarded whose stream ack the cluster has not confirmed yet (they are not sent again). */
  acksUnconfirmed: number;
  /** The last error talking to the cluster, '' when the last exchange succeeded. */
  lastError: string;
}

interface DeadBody {
  key: string;
  deviceId: string;
  reason: string;
  message: string;
  records: unknown[];
  topic?: string;
  createdAt: string;
}

/** The subject a delivered message is acknowledged on (the client's JsMsg has it, its type does not say so). */
function replyOf(m: JsMsg): string {
  const reply = (m as unknown as { reply?: string }).reply;
  if (!reply) throw new Error(`message ${m.seq} has no reply subject to acknowledge on`);
  return reply;
}

/** A JetStream acknowledgement's payload. */
const ACK = '+ACK';

/** How long a starting node keeps asking JetStream to set up its streams before it gives up. */
const OPEN_PATIENCE_MS = 30_000;
/** How long a stream or consumer management request may take. */
const MANAGE_TIMEOUT_MS = 10_000;

/** A partition this node forwards: its consumer, the messages delivered and not yet acked, by stream seq. */
interface Slot {
  messages: ConsumerMessages | undefined;
  msgs: Map<number, JsMsg>;
  /** The consumer sequence of the last delivery taken. */
  delivered: number;
}

function isFull(err: unknown): boolean {
  return /maximum (bytes|messages)|insufficient resources/i.test((err as Error)?.message ?? '');
}

export class JetStreamStore implements Store {
  readonly names: ClusterNames;
  readonly node: string;
  private readonly js: JetStreamClient;
  private readonly held = new Map<number, Slot>();
  /** Messages forwarded (or dead-lettered) whose stream ack is not confirmed yet, by stream sequence. */
  private readonly unconfirmed = new Map<number, { m: JsMsg; partition: number; slot: Slot }>();
  private confirmTimer: ReturnType<Clock['setTimeout']> | undefined;
  /** Partition consumers started over after a lost delivery. */
  private restarts = 0;
  private readonly refused = new Set<string>();
  private readonly refusedListeners: Array<(token: string) => void> = [];
  /** Each device's last append in flight (appends of one key publish in order). */
  private readonly tails = new Map<string, Promise<void>>();
  private readonly appendListeners: Array<() => void> = [];
  private readonly spaceListeners: Array<() => void> = [];
  private readonly clock: Clock;
  private readonly boot = randomUUID().slice(0, 8);
  private published = 0;
  private closing = false;
  private statsTimer: ReturnType<Clock['setTimeout']> | undefined;
  private leases!: PartitionLeases;
  private cached = {
    messages: 0,
    bytes: 0,
    firstTs: 0,
    dead: 0,
    replicas: 0,
    current: 0,
    leader: null as string | null,
    /** A clustered stream without a leader (an election, or no quorum). */
    leaderless: false,
    lag: 0,
  };
  private lastError = '';
  /** When (monotonic) a write last went unacknowledged; cleared by the next acknowledged write. */
  private writeFailedAt: number | undefined;
  private pointsPerMessage = 1;
  private notifyQueued = false;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly refusedKv: KV,
    private readonly opts: JetStreamStoreOptions,
    private readonly fw: ForwardWindow,
  ) {
    this.names = clusterNames(opts.config.prefix);
    this.node = opts.config.node ?? `${hostname()}-${process.pid}`;
    this.js = jetstream(nc, { timeout: opts.config.ackTimeoutMs });
    this.clock = opts.clock ?? systemClock;
  }

  static async open(opts: JetStreamStoreOptions): Promise<JetStreamStore> {
    const nc = await connectCluster(opts.config, `tago-edge ${opts.config.node ?? hostname()}`);
    try {
      const names = clusterNames(opts.config.prefix);
      const clock = opts.clock ?? systemClock;
      // Nodes often start with the servers (a reboot, a fresh cluster): JetStream answers once its servers
      // elected a leader. Keep asking for a while before giving up on the start.
      const deadline = clock.monotonic() + Math.max(OPEN_PATIENCE_MS, opts.config.ackTimeoutMs);
      let jsm: JetStreamManager;
      let buckets: Awaited<ReturnType<typeof provision>>;
      for (;;) {
        try {
          // Stream and consumer management (a consumer made anew on a takeover is a Raft write of its own)
          // gets more time than an append, whose timeout is what a device waits.
          jsm = await jetstreamManager(nc, { timeout: Math.max(MANAGE_TIMEOUT_MS, opts.config.ackTimeoutMs) });
          buckets = opts.attachOnly
            ? await attach(jsm, names)
            : await provision(jsm, names, opts.config, opts.maxBytes);
          break;
        } catch (err) {
          // A store no node has made yet is no reason to wait, for a command that only attaches to it.
          const missing = opts.attachOnly && /not found/i.test(((err as Error).cause as Error)?.message ?? '');
          if (missing || clock.monotonic() > deadline) throw err;
          opts.log.warn({ err: (err as Error).message }, 'cluster: JetStream not ready yet; asking again');
          await new Promise((r) => clock.setTimeout(() => r(undefined), 1_000));
        }
      }
      const { leases, refused } = buckets;
      const store = new JetStreamStore(nc, jsm, refused, opts, new ForwardWindow());
      await store.loadRefused();
      store.leases = new PartitionLeases(
        leases,
        store.node,
        opts.config.partitions,
        opts.config.leaseMs,
        { gained: (p) => store.gained(p), lost: (p) => store.lost(p) },
        opts.log,
        store.clock,
      );
      await store.refresh();
      return store;
    } catch (err) {
      await nc.close().catch(() => {});
      if (err instanceof EdgeError) throw err;
      throw new StoreOpenError(
        `JetStream at ${opts.config.servers.join(', ')} did not answer the stream set-up (${(err as Error).message}): is JetStream enabled, and does the cluster have a quorum?`,
        { cause: err },
      );
    }
  }

  /** Starts taking partition leases and forwarding them (after the forwarders are wired). */
  startForwarding(): void {
    this.leases.start();
    this.scheduleRefresh();
  }

  // ---- ingest ----

  async append(key: string, records: DataRecord[]): Promise<void> {
    if (this.closing) throw new ShuttingDownError('the store is closing');
    if (records.length === 0) return;
    // One device's appends are published one after another: a retried publish never lets a later append of
    // the same device be stored before it (many devices' appends are still in flight at once).
    const prev = this.tails.get(key);
    const run = (prev ?? Promise.resolve()).then(() => this.publishAppend(key, records));
    // The tail never rejects: the caller gets the error through `run`; the next append only waits.
    const tail: Promise<void> = run.then(
      () => this.untail(key, tail),
      () => this.untail(key, tail),
    );
    this.tails.set(key, tail);
    return run;
  }

  private untail(key: string, tail: Promise<void>): void {
    if (this.tails.get(key) === tail) this.tails.delete(key);
  }

  private async publishAppend(key: string, records: DataRecord[]): Promise<void> {
    const deviceId = this.opts.deviceIdOf(key);
    const subject = this.names.subjectOf(partitionOf(deviceId, this.opts.config.partitions), deviceId);
    const { rows, bytes } = packRows(records, this.opts.rowMaxBytes ?? DEFAULT_ROW_MAX_BYTES);
    this.pointsPerMessage = records.length / rows.length;
    const appended = String(this.clock.now());
    for (const row of rows) {
      const h = headers();
      h.set(KEY_HEADER, encodeKey(key));
      h.set(POINTS_HEADER, String(row.points));
      h.set(APPENDED_HEADER, appended);
      await this.publish(subject, row.text, h, `${this.node}.${this.boot}.${++this.published}`, bytes);
    }
  }

  private async publish(
    subject: string,
    text: string,
    h: ReturnType<typeof headers>,
    msgID: string,
    bytes: number,
  ): Promise<void> {
    const deadline = this.clock.monotonic() + this.opts.config.ackTimeoutMs;
    let last: unknown;
    for (;;) {
      const left = deadline - this.clock.monotonic();
      if (left <= 0) break;
      try {
        await this.js.publish(subject, text, { msgID, headers: h, timeout: Math.max(100, left) });
        this.ok();
        this.writeFailedAt = undefined;
        return;
      } catch (err) {
        last = err;
        if (isFull(err)) {
          throw new StoreFullError(`the cluster's stream is full (${bytes} bytes refused)`, {
            retryAfterSeconds: this.opts.retryAfterSeconds,
          });
        }
        if (this.closing) break;
        // No quorum, no responders, a leader election: try again with the same Nats-Msg-Id while time is left.
        await new Promise((r) => this.clock.setTimeout(() => r(undefined), 100));
      }
    }
    this.failed(last);
    this.writeFailedAt = this.clock.monotonic();
    throw new StoreUnavailableError(
      `the cluster did not acknowledge the write within ${this.opts.config.ackTimeoutMs} ms (${(last as Error)?.message ?? 'no answer'}); nothing was acknowledged`,
      { retryAfterSeconds: this.opts.retryAfterSeconds },
    );
  }

  private ok(): void {
    this.lastError = '';
  }

  private failed(err: unknown): void {
    this.lastError = (err as Error)?.message ?? String(err);
  }

  /**
   * Whether the cluster takes writes: not after a write went unacknowledged, until a later write was (an
   * append, or this node's lease heartbeat, a KV write with the same replicas). A stream leader answers
   * info requests without its quorum, so the stream's state alone does not tell.
   */
  private writable(): boolean {
    if (this.cached.leaderless) return false;
    if (this.writeFailedAt === undefined) return true;
    const hb = this.leases?.heartbeatAt;
    return hb !== undefined && hb > this.writeFailedAt;
  }

  // ---- partitions this node forwards ----

  private async gained(p: number): Promise<void> {
    const slot: Slot = { messages: undefined, msgs: new Map(), delivered: 0 };
    this.held.set(p, slot);
    const name = await resetPartitionConsumer(this.jsm, this.names, p);
    const consumer = await this.jsm.jetstream().consumers.get(this.names.stream, name);
    const messages = await consumer.consume({ max_messages: 500, expires: 5_000 });
    slot.messages = messages;
    if (this.held.get(p) !== slot) {
      // Lost (or restarted) while the consumer was being made.
      messages.stop();
      return;
    }
    this.opts.log.info({ partition: p, node: this.node }, 'cluster: forwarding partition');
    void (async () => {
      try {
        for await (const m of messages) {
          if (this.held.get(p) !== slot) break;
          this.take(p, slot, m);
        }
      } catch (err) {
        this.opts.log.warn({ partition: p, err: (err as Error).message }, 'cluster: partition consumer stopped');
      }
    })();
  }

  private take(p: number, slot: Slot, m: JsMsg): void {
    // Each delivery has the consumer's next sequence. A skipped one is a delivery lost on the way (a
    // server or connection that died mid-pull): the server would send it again only after ack_wait, and
    // forwarding the later messages meanwhile would put the device's points out of order. Start the
    // partition over from its first unacknowledged message instead.
    const d = m.info.deliverySequence;
    if (d !== slot.delivered + 1) {
      void this.restartPartition(p, slot, `deliveries ${slot.delivered + 1}..${d - 1} did not arrive`);
      return;
    }
    slot.delivered = d;
    const h = m.headers;
    const key = h?.get(KEY_HEADER);
    if (!key) {
      // Not a gateway's append (something else published on the points subjects): acknowledged away, with
      // a log line, so it does not hold its partition's consumer.
      this.opts.log.warn(
        { partition: p, subject: m.subject, seq: m.seq },
        'cluster: a message without the gateway key header was removed',
      );
      void m.ackAck().catch(() => {});
      return;
    }
    slot.msgs.set(m.seq, m);
    const text = m.string();
    const added = this.fw.add({
      seq: m.seq,
      key: decodeKey(key),
      partition: p,
      text,
      points: Number(h?.get(POINTS_HEADER)) || 1,
      bytes: m.data.length + 1,
      appendedAt: Number(h?.get(APPENDED_HEADER)) || this.clock.now(),
    });
    if (added && !this.notifyQueued) {
      this.notifyQueued = true;
      queueMicrotask(() => {
        this.notifyQueued = false;
        for (const l of this.appendListeners) l();
      });
    }
  }

  private async restartPartition(p: number, slot: Slot, why: string): Promise<void> {
    if (this.held.get(p) !== slot || this.closing) return;
    this.restarts++;
    this.opts.log.warn(
      { partition: p, why },
      'cluster: partition consumer restarted at its first unacknowledged message',
    );
    this.lost(p);
    if (!this.leases.owns(p)) return;
    try {
      await this.gained(p);
    } catch (err) {
      this.opts.log.warn({ partition: p, err: (err as Error).message }, 'cluster: partition consumer did not restart');
      await this.leases.giveBack(p);
    }
  }

  private lost(p: number): void {
    const slot = this.held.get(p);
    this.held.delete(p);
    slot?.messages?.stop();
    this.fw.dropPartition(p);
  }

  // ---- the forwarders' side ----

  pendingTokens(limit: number, exclude?: ReadonlySet<string>, owns?: KeyFilter): string[] {
    return this.fw.pendingKeys(limit, exclude, owns);
  }

  queueShare(owns: KeyFilter): QueueShare {
    return this.fw.share(owns, this.clock.now());
  }

  appendedAt(id: number): number | undefined {
    return this.fw.get(id)?.appendedAt;
  }

  pendingBytes(key: string): number {
    return this.fw.pendingBytes(key);
  }

  peek(key: string, maxBytes: number): PendingBatch | null {
    return this.fw.peek(key, maxBytes);
  }

  /** The share of the cluster's partitions this node forwards: its part of each route's request budget. */
  forwardShare(): number {
    return this.leases.share();
  }

  async acknowledge(ids: number[]): Promise<void> {
    const results = await Promise.all(
      ids.map(async (seq): Promise<{ seq: number; retry?: { m: JsMsg; partition: number; slot: Slot } }> => {
        const e = this.fw.get(seq);
        const slot = e ? this.held.get(e.partition) : undefined;
        const m = slot?.msgs.get(seq);
        // Its partition moved to another node meanwhile: that node sends it again (a duplicate, never a loss).
        if (!e || !slot || !m) return { seq };
        if (await this.confirmAck(m, seq)) return { seq };
        return { seq, retry: { m, partition: e.partition, slot } };
      }),
    );
    // The destination has these points: whether or not the stream confirmed the ack, they leave the window
    // (sending them again every time an ack goes unconfirmed would flood the destination with duplicates
    // while the cluster has no quorum). Unconfirmed acks are sent again until confirmed; if the partition
    // moves first, its new node delivers those points once more.
    for (const r of results) if (r.retry) this.unconfirmed.set(r.seq, r.retry);
    this.forget(results.map((r) => r.seq));
    if (this.unconfirmed.size > 0) this.scheduleConfirm();
  }

  /** True once the stream no longer holds the message (the ack applied, now or before). */
  private async confirmAck(m: JsMsg, seq: number): Promise<boolean> {
    // The ack as a request of our own, not `m.ackAck()`: the client sends that once per message and answers
    // false to every later call without sending, so an ack that went unconfirmed could never be retried.
    try {
      await this.nc.request(replyOf(m), ACK, { timeout: this.opts.config.ackTimeoutMs });
      return true;
    } catch (err) {
      this.failed(err);
    }
    // An ack whose confirmation was lost may still have been applied: a message no longer in the stream
    // is acknowledged (acking it again would never be confirmed).
    return !(await this.inStream(seq));
  }

  private scheduleConfirm(): void {
    if (this.confirmTimer !== undefined || this.closing) return;
    this.confirmTimer = this.clock.setTimeout(() => {
      void this.confirmPending().finally(() => {
        this.confirmTimer = undefined;
        if (this.unconfirmed.size > 0) this.scheduleConfirm();
      });
    }, 1_000);
    this.confirmTimer.unref?.();
  }

  private async confirmPending(): Promise<void> {
    for (const [seq, u] of [...this.unconfirmed]) {
      if (this.closing) return;
      // The partition moved or restarted: its consumer delivers the message again, there or here.
      if (this.held.get(u.partition) !== u.slot || (await this.confirmAck(u.m, seq))) this.unconfirmed.delete(seq);
    }
  }

  private async inStream(seq: number): Promise<boolean> {
    try {
      return (await this.jsm.streams.getMessage(this.names.stream, { seq })) !== null;
    } catch (err) {
      // Not found: gone. Anything else (no quorum): assume it is still there and try again later.
      return !/no message found|not found/i.test((err as Error).message);
    }
  }

  private forget(seqs: number[]): void {
    for (const e of this.fw.remove(seqs)) this.held.get(e.partition)?.msgs.delete(e.seq);
    if (seqs.length > 0) for (const l of this.spaceListeners) l();
  }

  async deadLetter(ids: number[], reason: string, message: string): Promise<void> {
    const byKey = new Map<string, { records: unknown[]; seqs: number[] }>();
    for (const seq of ids) {
      const e = this.fw.get(seq);
      if (!e) continue;
      let g = byKey.get(e.key);
      if (!g) {
        g = { records: [], seqs: [] };
        byKey.set(e.key, g);
      }
      g.records.push(...(JSON.parse(`[${e.text}]`) as unknown[]));
      g.seqs.push(seq);
    }
    for (const [key, g] of byKey) {
      await this.storeDead({
        key,
        deviceId: this.opts.deviceIdOf(key),
        reason,
        message,
        records: g.records,
        createdAt: new Date(this.clock.now()).toISOString(),
      });
      // Stored as a dead letter before it leaves the queue: never in neither (a crash here leaves it in both).
      await this.acknowledge(g.seqs);
      events.deadLetter.publish({ deviceId: this.opts.deviceIdOf(key), reason, points: g.records.length });
    }
  }

  private async storeDead(body: DeadBody): Promise<void> {
    try {
      await this.js.publish(this.names.deadSubject, JSON.stringify(body), { timeout: this.opts.config.ackTimeoutMs });
      this.cached.dead++;
    } catch (err) {
      this.failed(err);
      throw new StoreUnavailableError(`the cluster did not store the dead letter (${(err as Error).message})`, {
        retryAfterSeconds: this.opts.retryAfterSeconds,
      });
    }
  }

  async addDeadLetter(input: DeadLetterInput): Promise<void> {
    await this.storeDead({
      key: input.token,
      deviceId: input.deviceId,
      reason: input.reason,
      message: input.message,
      records: input.records,
      ...(input.topic !== undefined ? { topic: input.topic } : {}),
      createdAt: new Date(this.clock.now()).toISOString(),
    });
    events.deadLetter.publish({ deviceId: input.deviceId, reason: input.reason, points: input.records.length });
  }

  private async readDead(limit: number, only?: ReadonlySet<number>): Promise<Array<DeadLetter & { key: string }>> {
    const info = await this.jsm.streams.info(this.names.deadStream);
    const out: Array<DeadLetter & { key: string }> = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && out.length < limit; seq++) {
      if (only && !only.has(seq)) continue;
      let m: Awaited<ReturnType<JetStreamManager['streams']['getMessage']>>;
      try {
        m = await this.jsm.streams.getMessage(this.names.deadStream, { seq });
      } catch {
        continue; // deleted (replayed)
      }
      if (!m) continue;
      const d = m.json<DeadBody>();
      const { route } = parseQueueKey(d.key);
      out.push({
        id: seq,
        key: d.key,
        deviceId: d.deviceId,
        reason: d.reason,
        message: d.message,
        records: d.records,
        ...(d.topic !== undefined ? { topic: d.topic } : {}),
        ...(route !== null ? { route } : {}),
        createdAt: d.createdAt,
      });
    }
    return out;
  }

  async listDeadLetters(limit = 100): Promise<DeadLetter[]> {
    return (await this.readDead(limit)).map(({ key: _key, ...d }) => d);
  }

  async replayDeadLetters(ids?: number[]): Promise<number> {
    const letters = await this.readDead(Number.MAX_SAFE_INTEGER, ids ? new Set(ids) : undefined);
    let points = 0;
    for (const d of letters) {
      if (d.records.length > 0) await this.append(d.key, d.records as DataRecord[]);
      await this.jsm.streams.deleteMessage(this.names.deadStream, d.id);
      this.cached.dead = Math.max(0, this.cached.dead - 1);
      points += d.records.length;
    }
    return points;
  }

  // ---- refused tokens ----

  private async loadRefused(): Promise<void> {
    for await (const k of await this.refusedKv.keys()) {
      const e = await this.refusedKv.get(k);
      if (e && e.operation === 'PUT') this.refused.add(e.string());
    }
    const w = await this.refusedKv.watch({ include: 'updates' });
    void (async () => {
      for await (const e of w) if (e.operation === 'PUT') this.noteRefused(e.string());
    })().catch(() => {});
  }

  private noteRefused(token: string): void {
    if (this.refused.has(token)) return;
    this.refused.add(token);
    for (const l of this.refusedListeners) l(token);
  }

  onRefused(listener: (token: string) => void): void {
    this.refusedListeners.push(listener);
  }

  async refuseToken(token: string): Promise<void> {
    try {
      await this.refusedKv.put(tokenKey(token), token);
    } catch (err) {
      this.failed(err);
      throw new StoreUnavailableError(`the cluster did not store the refused token (${(err as Error).message})`, {
        retryAfterSeconds: this.opts.retryAfterSeconds,
      });
    }
    this.noteRefused(token);
  }

  isRefused(token: string): boolean {
    return this.refused.has(token);
  }

  refusedTokens(): string[] {
    return [...this.refused];
  }

  // ---- state ----

  private scheduleRefresh(): void {
    if (this.closing) return;
    this.statsTimer = this.clock.setTimeout(() => {
      void this.refresh().finally(() => this.scheduleRefresh());
    }, 1_000);
    this.statsTimer.unref?.();
  }

  /** Reads the stream's state (depth, replicas, leader) and this node's consumers' lag. */
  async refresh(): Promise<void> {
    try {
      const [s, d] = await Promise.all([
        this.jsm.streams.info(this.names.stream),
        this.jsm.streams.info(this.names.deadStream),
      ]);
      let lag = 0;
      for (const p of this.held.keys()) {
        try {
          const c = await this.jsm.consumers.info(this.names.stream, this.names.consumer(p));
          lag += c.num_pending + c.num_ack_pending;
        } catch {
          // being made anew
        }
      }
      const replicas = s.cluster?.replicas ?? [];
      this.cached = {
        messages: s.state.messages,
        bytes: s.state.bytes,
        firstTs: s.state.messages > 0 ? Date.parse(s.state.first_ts) : 0,
        dead: d.state.messages,
        replicas: s.config.num_replicas,
        current: (s.cluster?.leader ? 1 : 0) + replicas.filter((r) => r.current && !r.offline).length,
        leader: s.cluster?.leader ?? null,
        leaderless: s.cluster !== undefined && !s.cluster.leader,
        lag,
      };
      const hadSpace = this.hasRoom(1);
      if (this.writable()) this.ok();
      if (hadSpace) for (const l of this.spaceListeners) l();
    } catch (err) {
      this.failed(err);
    }
  }

  stats(): StoreStats {
    const c = this.cached;
    // The stream counts messages; points beyond this node's window are estimated at the appends' average.
    const outside = Math.max(0, c.messages - this.fw.size);
    const perMessage = this.fw.size > 0 ? this.fw.totalPoints / this.fw.size : this.pointsPerMessage;
    return {
      depthPoints: this.fw.totalPoints + Math.round(outside * perMessage),
      depthBytes: Math.max(c.bytes, this.fw.totalBytes),
      oldestAgeMs: c.firstTs > 0 ? Math.max(0, this.clock.now() - c.firstTs) : 0,
      deadLetters: c.dead,
      maxBytes: this.opts.config.maxBytes ?? this.opts.maxBytes,
    };
  }

  clusterStatus(): ClusterStatus {
    const c = this.cached;
    return {
      node: this.node,
      nodes: this.leases.nodes,
      partitions: { total: this.opts.config.partitions, held: this.leases.held },
      stream: {
        name: this.names.stream,
        replicas: c.replicas,
        leader: c.leader,
        current: c.current,
        messages: c.messages,
        bytes: c.bytes,
      },
      consumerLag: c.lag,
      consumerRestarts: this.restarts,
      acksUnconfirmed: this.unconfirmed.size,
      lastError: this.lastError,
    };
  }

  /** The downlink's shared bucket `<prefix>_downlink`, created on first use, on this store's connection. */
  downlinkBucket(): Promise<KV> {
    return provisionDownlinkBucket(this.jsm, this.names, this.opts.config);
  }

  onAppend(listener: () => void): void {
    this.appendListeners.push(listener);
  }

  onSpace(listener: () => void): void {
    this.spaceListeners.push(listener);
  }

  hasRoom(bytes: number): boolean {
    return this.writable() && this.cached.bytes + bytes <= (this.opts.config.maxBytes ?? this.opts.maxBytes);
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.clock.clearTimeout(this.statsTimer);
    this.clock.clearTimeout(this.confirmTimer);
    // Hand the partitions back first: the other nodes take them at their next tick, not after the lease
    // expires. Bounded: without a quorum the releases are never confirmed, and the leases expire instead.
    await this.bounded(this.leases.stop());
    for (const p of [...this.held.keys()]) this.lost(p);
    await this.bounded(this.nc.drain());
    if (!this.nc.isClosed()) await this.nc.close().catch(() => {});
  }

  private async bounded(work: Promise<unknown>): Promise<void> {
    let timer: ReturnType<Clock['setTimeout']> | undefined;
    await Promise.race([
      work.catch(() => {}),
      new Promise((r) => {
        timer = this.clock.setTimeout(() => r(undefined), this.opts.config.ackTimeoutMs);
      }),
    ]);
    this.clock.clearTimeout(timer);
  }
}
