/**
 * The data path, declared once as a list of stages (`INGEST_STAGES`) that both protocols run through
 * `IngestPipeline.run`:
 *
 *   admit → authenticate → limit → decode → parse → validate → store → ack
 *
 * - admit: address lists, the auth cool-down, shutting down (before the token is looked at);
 * - authenticate: token or client certificate → device (on MQTT, the session's device and the topic ACL);
 * - limit: the device's upload rate (it needs the device, so it follows authenticate);
 * - decode: the body or payload → JSON or raw input (HTTP reads the body here);
 * - parse: TagoIO's `payload` array, run through the device's parser in the sandbox when it has one;
 * - validate: TagoIO's record rules; store: the durable append of every route's copy (resolves after the commit);
 * - ack: the protocol's acknowledgement (HTTP 200, MQTT PUBACK), only after store.
 *
 * The protocol adapters supply what depends on the protocol (`IngestSource`); the stage that fails decides
 * the answer through the error (its HTTP status and MQTT outcome, gateway/errors.ts). This file is the one
 * place that publishes `ingestAccepted` and `ingestRejected` for a message.
 */
import { isUtf8 } from 'node:buffer';
import type { ParserDevice, ParserHost } from '../../parsers/parser-host.js';
import { type EdgeError, InvalidBodyError, ParserError, toEdgeError } from '../errors.js';
import { events, type Protocol } from '../events.js';
import type { DataRecord, Device } from '../model.js';
import type { RoutedAppend } from '../routes/routes.js';
import { validateRecords } from '../validate/record-rules.js';

export type IngestInput =
  /** Parsed JSON: one TagoIO record or an array (HTTP application/json, MQTT tago/data/post). */
  | { kind: 'json'; body: unknown; raw: Buffer | string }
  /** A raw body or a publish on another topic. */
  | { kind: 'raw'; payload: Buffer; topic?: string };

export const DATA_TOPIC = 'tago/data/post';

/** Binary payloads travel as hex, text as UTF-8 (TagoIO's `payload` record convention). */
export function payloadValue(buf: Buffer): string {
  if (isUtf8(buf)) {
    const text = buf.toString('utf8');
    // Control characters other than whitespace mean a binary frame that happens to be valid UTF-8.
    if (!/[\u0000-\u0008\u000e-\u001f\u007f]/.test(text)) return text;
  }
  return buf.toString('hex');
}

function payloadRecord(buf: Buffer, topic: string | undefined): Record<string, unknown> {
  const rec: Record<string, unknown> = { variable: 'payload', value: payloadValue(buf) };
  if (topic !== undefined) rec.metadata = { topic };
  return rec;
}

function withTopic(list: unknown[], topic: string): unknown[] {
  return list.map((r) => {
    if (r === null || typeof r !== 'object' || Array.isArray(r)) return r;
    const rec = r as Record<string, unknown>;
    const meta = rec.metadata;
    if (meta !== undefined && (meta === null || typeof meta !== 'object' || Array.isArray(meta))) return r;
    return { ...rec, metadata: { ...(meta as Record<string, unknown> | undefined), topic } };
  });
}

/** Stage 1: what the device sent, as TagoIO's `payload` array. */
export function toPayload(input: IngestInput, hasParser: boolean): unknown[] {
  if (input.kind === 'json') {
    const b = input.body;
    if (Array.isArray(b)) return b;
    if (b !== null && typeof b === 'object') return [b];
    throw new InvalidBodyError('body must be a TagoIO data record or an array of records');
  }
  const { payload, topic } = input;
  if (!hasParser && topic !== undefined) {
    // Without a parser, a JSON record or array on any topic is data (with metadata.topic added).
    const first = payload[0];
    if (first === 0x7b /* { */ || first === 0x5b /* [ */) {
      try {
        const parsed: unknown = JSON.parse(payload.toString('utf8'));
        if (Array.isArray(parsed)) return withTopic(parsed, topic);
        if (parsed !== null && typeof parsed === 'object') return withTopic([parsed], topic);
      } catch {
        // not JSON: kept as the payload record below
      }
    }
  }
  return [payloadRecord(payload, topic)];
}

/** `new Date(ms).toISOString()`, remembered for the last millisecond asked (many messages share one). */
let isoMs = Number.NaN;
let isoText = '';
function isoAt(ms: number): string {
  if (ms !== isoMs) {
    isoText = new Date(ms).toISOString();
    isoMs = ms;
  }
  return isoText;
}

/**
 * The parser's `device` global for a device: one object per Device (devices are rebuilt on a config reload),
 * so the parser host can keep its JSON instead of serialising it for every message.
 */
const parserDevices = new WeakMap<Device, ParserDevice>();
function parserDevice(device: Device): ParserDevice {
  let d = parserDevices.get(device);
  if (d === undefined) {
    d = { id: device.id, name: device.name, tags: device.tags, params: device.params };
    parserDevices.set(device, d);
  }
  return d;
}

export type StageName = 'admit' | 'authenticate' | 'limit' | 'decode' | 'parse' | 'validate' | 'store' | 'ack';

/** What a protocol adapter supplies for one message: the stages whose work depends on the protocol. */
export interface IngestSource {
  readonly protocol: Protocol;
  /** When the message arrived (ms since the epoch): the records' default time and the ack latency's start. */
  readonly arrivedAtMs: number;
  admit(): void;
  authenticate(): Device;
  limit(device: Device): void;
  /** Calls `done` with the input (at once, or when the body has arrived) or with the error that refuses it. */
  decode(device: Device, done: (err: unknown, input?: IngestInput) => void): void;
  ack(points: number): void;
  /**
   * The message was refused at `stage` (already counted). Resolving `true` runs that stage again (MQTT
   * waits for space in a full store before it gives up on a QoS 1 publish).
   */
  refuse(err: EdgeError, stage: StageName, device: Device | undefined): Promise<boolean> | undefined;
}

/** One message on its way through the stages. */
interface Message {
  readonly source: IngestSource;
  device: Device | undefined;
  input: IngestInput | undefined;
  payload: unknown[] | undefined;
  records: DataRecord[];
}

/**
 * Settled by a callback, and then calls its continuation at once: a Promise would wait for a microtask,
 * and the HTTP connection that cannot read a body answers the request in the same turn.
 */
class Later {
  private state: 'waiting' | 'ok' | 'failed' = 'waiting';
  private err: unknown;
  private ok: (() => void) | undefined;
  private fail: ((err: unknown) => void) | undefined;

  settle(err: unknown): void {
    if (this.state !== 'waiting') return;
    if (err === null || err === undefined) {
      this.state = 'ok';
      this.ok?.();
    } else {
      this.state = 'failed';
      this.err = err;
      this.fail?.(err);
    }
  }

  whenSettled(ok: () => void, fail: (err: unknown) => void): void {
    if (this.state === 'ok') ok();
    else if (this.state === 'failed') fail(this.err);
    else {
      this.ok = ok;
      this.fail = fail;
    }
  }
}

interface Stage {
  readonly name: StageName;
  /** Returns a Promise or a Later only when the stage waits (a body, a parser, the commit). */
  run(m: Message, deps: PipelineDeps): void | Promise<void> | Later;
}

const DEVICE = (m: Message): Device => m.device as Device;

/** The stages, in order. */
export const INGEST_STAGES: readonly Stage[] = [
  { name: 'admit', run: (m) => m.source.admit() },
  {
    name: 'authenticate',
    run: (m) => {
      m.device = m.source.authenticate();
    },
  },
  { name: 'limit', run: (m) => m.source.limit(DEVICE(m)) },
  {
    name: 'decode',
    run: (m) => {
      const later = new Later();
      m.source.decode(DEVICE(m), (err, input) => {
        m.input = input;
        later.settle(err === null || err === undefined ? (input ? null : new InvalidBodyError('no body')) : err);
      });
      return later;
    },
  },
  {
    name: 'parse',
    run: (m, deps) => {
      const device = DEVICE(m);
      const input = m.input as IngestInput;
      const payload = toPayload(input, device.parser !== undefined);
      if (device.parser === undefined || deps.parsers === null) {
        m.payload = payload;
        return;
      }
      const rawPayload = input.kind === 'json' ? input.body : payloadValue(input.payload);
      return deps.parsers.run(device.parser, parserDevice(device), { payload, rawPayload }).then((output) => {
        if (!Array.isArray(output)) {
          throw new ParserError(
            `parser output must be an array of TagoIO records, got ${output === null ? 'null' : typeof output}`,
          );
        }
        m.payload = output;
      });
    },
  },
  {
    name: 'validate',
    run: (m) => {
      const arrivedAt = isoAt(m.source.arrivedAtMs);
      if (DEVICE(m).parser === undefined) {
        m.records = validateRecords(m.payload as unknown[], arrivedAt);
        return;
      }
      try {
        m.records = validateRecords(m.payload as unknown[], arrivedAt);
      } catch (err) {
        // Fail closed: a parser that emits an invalid record rejects the whole message.
        throw new ParserError(`parser output ${(err as Error).message}`, { cause: err });
      }
    },
  },
  { name: 'store', run: (m, deps) => deps.store.append(DEVICE(m), m.records) },
  // Counted as accepted before it runs: the points are stored whatever the acknowledgement's fate.
  { name: 'ack', run: (m) => m.source.ack(m.records.length) },
];

const ACK = INGEST_STAGES.length - 1;

export interface PipelineDeps {
  /** Every route's copy of the records, durably (gateway/routes/routes.ts). */
  store: RoutedAppend;
  parsers: ParserHost | null;
}

export class IngestPipeline {
  private inflight = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly deps: PipelineDeps) {}

  /** Messages between arrival and acknowledgement (or refusal) right now. */
  get inFlight(): number {
    return this.inflight;
  }

  /** Resolves when no message is in flight (graceful shutdown waits for this before closing the store). */
  idle(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Runs one message through the stages. It ends in exactly one of `source.ack` (after the durable commit)
   * or `source.refuse`; nothing it throws escapes.
   */
  run(source: IngestSource): void {
    this.inflight++;
    const m: Message = { source, device: undefined, input: undefined, payload: undefined, records: [] };
    this.step(m, 0);
  }

  /** Runs stages from `i` on, synchronously until one returns a promise (no promise per stage otherwise). */
  private step(m: Message, i: number): void {
    for (; i < ACK; i++) {
      const stage = INGEST_STAGES[i] as Stage;
      let pending: Promise<void> | Later | undefined;
      try {
        pending = stage.run(m, this.deps) as Promise<void> | Later | undefined;
      } catch (err) {
        this.refused(m, i, err);
        return;
      }
      if (pending !== undefined) {
        const at = i;
        const ok = () => this.step(m, at + 1);
        const fail = (err: unknown) => this.refused(m, at, err);
        if (pending instanceof Later) pending.whenSettled(ok, fail);
        else pending.then(ok, fail);
        return;
      }
    }
    this.accepted(m);
  }

  /** Stored: counted, then acknowledged (an acknowledgement that fails is answered, not counted again). */
  private accepted(m: Message): void {
    const { source } = m;
    events.ingestAccepted.publish({
      protocol: source.protocol,
      deviceId: DEVICE(m).id,
      points: m.records.length,
      ackMs: Date.now() - source.arrivedAtMs,
    });
    try {
      (INGEST_STAGES[ACK] as Stage).run(m, this.deps);
    } catch (err) {
      try {
        source.refuse(toEdgeError(err), 'ack', m.device);
      } catch {
        // the adapter's answer failed too: nothing more to say to this client
      }
    }
    this.settled();
  }

  /** The one place a refusal is counted; then the adapter answers it (or asks for the stage again). */
  private refused(m: Message, i: number, raw: unknown): void {
    const stage = INGEST_STAGES[i] as Stage;
    const err = toEdgeError(raw);
    const { source } = m;
    events.ingestRejected.publish({
      protocol: source.protocol,
      ...(m.device ? { deviceId: m.device.id } : {}),
      code: err.code,
      points: 0,
      stage: stage.name,
    });
    let again: Promise<boolean> | undefined;
    try {
      again = source.refuse(err, stage.name, m.device);
    } catch {
      again = undefined;
    }
    if (again instanceof Promise) {
      again.then(
        (retry) => (retry ? this.step(m, i) : this.settled()),
        () => this.settled(),
      );
      return;
    }
    this.settled();
  }

  private settled(): void {
    if (--this.inflight === 0 && this.idleWaiters.length > 0) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }
}
