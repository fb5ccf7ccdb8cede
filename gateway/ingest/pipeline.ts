/**
 * The data path, stage by stage, as data (aedes-style): every ingest — HTTP or MQTT — runs
 *   toPayload → parse (sandbox, when the device has a parser) → validate → store (durable) → ack
 * and the stage that fails decides the answer: 400 ◀─ toPayload/parse/validate, 503 ◀─ store full.
 * `ingest` resolves only after `store.append` has resolved, i.e. after the commit: callers acknowledge
 * (HTTP 200, MQTT PUBACK) only then.
 */
import { isUtf8 } from 'node:buffer';
import type { ParserDevice, ParserHost } from '../../parsers/parser-host.js';
import { EdgeError, InvalidBodyError, ParserError } from '../errors.js';
import { events, type Protocol } from '../events.js';
import type { DataRecord, Device } from '../model.js';
import type { PointQueue } from '../store/store.js';
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

export interface PipelineDeps {
  store: PointQueue;
  parsers: ParserHost | null;
}

export class IngestPipeline {
  private inflight = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly deps: PipelineDeps) {}

  /** Messages between arrival and acknowledgement right now. */
  get inFlight(): number {
    return this.inflight;
  }

  /** Resolves when no message is in flight (graceful shutdown waits for this before closing the store). */
  idle(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Runs the whole path for one message. Resolves with the number of points stored (durably); rejects
   * with an EdgeError whose code and status say which stage refused it.
   */
  async ingest(device: Device, protocol: Protocol, input: IngestInput, arrivedAtMs: number): Promise<number> {
    const arrivedAt = isoAt(arrivedAtMs);
    let records: DataRecord[];
    this.inflight++;
    try {
      const payload = toPayload(input, device.parser !== undefined);
      const parsers = this.deps.parsers;
      // Without a parser, validation is synchronous: no extra promise per message.
      records =
        device.parser === undefined || parsers === null
          ? validateRecords(payload, arrivedAt)
          : await this.parseAndValidate(device, device.parser, parsers, payload, input, arrivedAt);
      await this.deps.store.append(device.token, records);
    } catch (err) {
      events.ingestRejected.publish({
        protocol,
        deviceId: device.id,
        code: err instanceof EdgeError ? err.code : 'EDGE_ERR_INTERNAL',
        points: 0,
      });
      throw err;
    } finally {
      if (--this.inflight === 0 && this.idleWaiters.length > 0) {
        for (const w of this.idleWaiters.splice(0)) w();
      }
    }
    events.ingestAccepted.publish({
      protocol,
      deviceId: device.id,
      points: records.length,
      ackMs: Date.now() - arrivedAtMs,
    });
    return records.length;
  }

  private async parseAndValidate(
    device: Device,
    parser: string,
    parsers: ParserHost,
    payload: unknown[],
    input: IngestInput,
    arrivedAt: string,
  ): Promise<DataRecord[]> {
    const rawPayload = input.kind === 'json' ? input.body : payloadValue(input.payload);
    const output = await parsers.run(parser, parserDevice(device), { payload, rawPayload });
    if (!Array.isArray(output)) {
      throw new ParserError(
        `parser output must be an array of TagoIO records, got ${output === null ? 'null' : typeof output}`,
      );
    }
    try {
      return validateRecords(output, arrivedAt);
    } catch (err) {
      // Fail closed: a parser that emits an invalid record rejects the whole message.
      throw new ParserError(`parser output ${(err as Error).message}`, { cause: err });
    }
  }
}
