/**
 * Batching for one parser file. Invariants:
 * - A message crosses into the isolate once, as one element of a JSON array: messages that arrive while
 *   the isolate is busy (or in the same event-loop turn when it is idle) ride in the next call together.
 * - Each message gets its own result or error; one bad message never fails its batch-mates.
 * - Time limit per message, not per batch: the batch call gets `timeoutMs`; when it is cut off, the
 *   finished outcomes are kept, and the message that was running is retried at the head of a fresh batch.
 *   A message fails with ParserTimeoutError only when it ran from the start of a call, with the whole
 *   budget to itself. Each runaway message therefore costs at most two time limits.
 * - Memory: when isolated-vm discards the isolate (heap limit), nothing tells which message did it, so
 *   the batch's messages are retried one per call in a re-created isolate; a single message that
 *   overruns fails with ParserMemoryError and the isolate is re-created for the next message.
 */

import { type EdgeError, isEdgeError, ParserError } from '../errors.js';
import { parserEvents } from '../events.js';
import type { ParserDevice } from '../parser-host.js';
import type { CallGate } from './call-gate.js';
import type { CompiledParser } from './compile.js';
import { memoryError, type Outcome, outcomeError, timeoutError } from './parser-errors.js';
import type { Loaded, ParserFile } from './parser-file.js';
import { isTimeout } from './parser-isolate.js';

/** Bounds one call's input so a burst cannot build a huge string or starve other messages' latency. */
const MAX_BATCH_MESSAGES = 256;

interface Pending {
  deviceId: string;
  /** The message as JSON, serialised once when it is queued. */
  json: string;
  started: number;
  /** Run alone (after an isolate was lost to a memory overrun in a batch). */
  solo: boolean;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

export interface QueueLimits {
  timeoutMs: number;
  memoryMb: number;
}

export class ParserQueue {
  private readonly pending: Pending[] = [];
  private draining = false;
  private closed = false;

  constructor(
    private readonly file: ParserFile,
    private readonly limits: QueueLimits,
    /** Shared by every parser of the host: bounds the isolates running at once (call-gate.ts). */
    private readonly gate: CallGate,
  ) {}

  enqueue(device: ParserDevice, payload: unknown[], rawPayload: unknown): Promise<unknown> {
    if (this.closed) return Promise.reject(closedError());
    let json: string;
    try {
      json = messageJson(device, payload, rawPayload);
    } catch (err) {
      return Promise.reject(new ParserError(`message cannot be passed to the parser: ${(err as Error).message}`));
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ deviceId: device.id, json, started: performance.now(), solo: false, resolve, reject });
      if (!this.draining) {
        this.draining = true;
        // setImmediate, not a timer: it runs at the end of this event-loop turn, so an idle parser adds no
        // delay, yet every message read in the same turn (from every socket) rides in one call. A microtask
        // ran a call for the first socket's messages alone: more crossings (−8 % CPU per frame message with
        // this and the device JSON kept below, docs/performance.md).
        setImmediate(() => void this.drain());
      }
    });
  }

  close(): void {
    this.closed = true;
    for (const p of this.pending.splice(0)) settle(p, closedError());
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0 && !this.closed) {
        const release = await this.gate.acquire();
        try {
          // The batch is taken once the slot is ours: what arrived while waiting rides along.
          if (this.pending.length === 0 || this.closed) break;
          const head = this.pending[0]!;
          const size = head.solo ? 1 : Math.min(MAX_BATCH_MESSAGES, this.pending.length);
          await this.runBatch(this.pending.splice(0, size));
        } finally {
          release();
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private async runBatch(batch: Pending[]): Promise<void> {
    let loaded: Loaded;
    try {
      loaded = await this.file.load();
    } catch (err) {
      for (const p of batch) settle(p, toParserError(err));
      return;
    }
    const { compiled, isolate } = loaded;
    let out: string;
    try {
      out = await isolate.run(`[${batch.map((p) => p.json).join(',')}]`, this.limits.timeoutMs);
    } catch (err) {
      // close() disposes the isolate under a running batch: that is not the parser's memory overrun.
      if (this.closed) return this.requeue(batch);
      if (isolate.disposed) return this.afterMemoryOverrun(batch);
      if (isTimeout(err)) return this.afterTimeout(batch, loaded);
      for (const p of batch) settle(p, toParserError(err));
      return;
    }
    const outcomes = JSON.parse(out) as Outcome[];
    batch.forEach((p, i) => {
      this.settleOutcome(p, outcomes[i]!, compiled);
    });
  }

  private settleOutcome(p: Pending, outcome: Outcome, compiled: CompiledParser): void {
    for (const [level, message] of outcome.logs)
      parserEvents.parserConsole.publish({ deviceId: p.deviceId, level, message });
    if (outcome.ok) settle(p, undefined, outcome.value);
    else settle(p, outcomeError(outcome, compiled, this.limits.memoryMb));
  }

  private async afterTimeout(batch: Pending[], { compiled, isolate }: Loaded): Promise<void> {
    let done: Outcome[] = [];
    try {
      done = JSON.parse(await isolate.progress()) as Outcome[];
    } catch {
      // The progress is lost only if the isolate went too; then nobody finished, retry from the head.
    }
    done.forEach((o, i) => {
      this.settleOutcome(batch[i]!, o, compiled);
    });
    const rest = batch.slice(done.length);
    const culprit = rest[0];
    if (!culprit) return;
    if (done.length === 0) {
      settle(culprit, timeoutError(this.limits.timeoutMs));
      rest.shift();
    }
    this.requeue(rest);
  }

  private afterMemoryOverrun(batch: Pending[]): void {
    if (batch.length === 1) {
      settle(batch[0]!, memoryError(this.limits.memoryMb));
      return;
    }
    for (const p of batch) p.solo = true;
    this.requeue(batch);
  }

  /** Back to the head of the queue, in order; after close() they fail instead, as nothing will run them. */
  private requeue(messages: Pending[]): void {
    if (this.closed) for (const p of messages) settle(p, closedError());
    else this.pending.unshift(...messages);
  }
}

/**
 * Device objects are built once per device (pipeline.ts) and stay the same until a config reload, so their
 * JSON is kept rather than re-serialised for every message.
 */
const deviceJson = new WeakMap<ParserDevice, string>();

/** `JSON.stringify({ payload, raw_payload, device })`, with the device's JSON remembered. */
export function messageJson(device: ParserDevice, payload: unknown[], rawPayload: unknown): string {
  let dev = deviceJson.get(device);
  if (dev === undefined) {
    dev = JSON.stringify(device);
    deviceJson.set(device, dev);
  }
  const raw = JSON.stringify(rawPayload);
  // JSON.stringify leaves out a property whose value has no JSON form (undefined, a function).
  return raw === undefined
    ? `{"payload":${JSON.stringify(payload)},"device":${dev}}`
    : `{"payload":${JSON.stringify(payload)},"raw_payload":${raw},"device":${dev}}`;
}

function settle(p: Pending, err: EdgeError | undefined, value?: unknown): void {
  parserEvents.parserRun.publish({
    deviceId: p.deviceId,
    outcome: err ? err.code : 'ok',
    messages: 1,
    durationMs: performance.now() - p.started,
  });
  if (err) p.reject(err);
  else p.resolve(value);
}

function closedError(): EdgeError {
  return new ParserError('parser host is closed');
}

function toParserError(err: unknown): EdgeError {
  if (isEdgeError(err)) return err;
  return new ParserError(`parser could not run: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
