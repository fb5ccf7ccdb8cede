/**
 * The ParserHost the pipeline uses: one isolate and one batching queue per parser file, created on first
 * use and kept for the life of the host. Fail closed: every way a parser can go wrong rejects the message
 * with a typed error (parsers/errors.ts); nothing is passed through unparsed.
 */
import { resolve } from 'node:path';
import { ParserError } from '../errors.js';
import {
  DEFAULT_MEMORY_MB,
  DEFAULT_TIMEOUT_MS,
  type ParseInput,
  type ParserDevice,
  type ParserHost,
  type ParserHostOptions,
} from '../parser-host.js';
import { CallGate } from './call-gate.js';
import { ParserFile } from './parser-file.js';
import { ParserQueue } from './parser-queue.js';

export { DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_MS };

export interface ParserHostStats {
  file: string;
  /** V8 heap of the parser's isolate, bytes (isolate.getHeapStatistics().used_heap_size). */
  usedHeapBytes: number;
  totalHeapBytes: number;
  externalBytes: number;
}

export interface SandboxParserHost extends ParserHost {
  /** Heap statistics of every loaded parser isolate (for benchmarks and diagnostics). */
  stats(): Promise<ParserHostStats[]>;
}

/** Sandbox-only knobs (call-gate.ts); the defaults suit the gateway. */
export interface SandboxHostOptions extends ParserHostOptions {
  /** Parser isolates running at once; default isolated-vm's pool size (cores + 1). */
  concurrentCalls: number;
  /** A call longer than this gives its slot back, so a slow parser does not hold others up. */
  lendAfterMs: number;
  /** The gate itself (tests watch what it grants); when given, `concurrentCalls` and `lendAfterMs` are its own. */
  gate: CallGate;
}

export function createParserHost(opts: Partial<SandboxHostOptions> = {}): SandboxParserHost {
  const limits = {
    timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    // isolated-vm refuses limits under 8 MB; the runtime bundle alone needs a few.
    memoryMb: Math.max(8, opts.memoryMb ?? DEFAULT_MEMORY_MB),
  };
  const gate = opts.gate ?? new CallGate(opts.concurrentCalls, opts.lendAfterMs);
  const parsers = new Map<string, { file: ParserFile; queue: ParserQueue }>();
  // The device's parser path as configured → its entry; resolving the path per message showed in profiles.
  const byName = new Map<string, { file: ParserFile; queue: ParserQueue }>();
  let closed = false;

  return {
    run(file: string, device: ParserDevice, input: ParseInput): Promise<unknown> {
      if (closed) return Promise.reject(new ParserError('parser host is closed'));
      let entry = byName.get(file);
      if (!entry) {
        const path = resolve(file);
        entry = parsers.get(path);
        if (!entry) {
          const parserFile = new ParserFile(path, limits.memoryMb);
          entry = { file: parserFile, queue: new ParserQueue(parserFile, limits, gate) };
          parsers.set(path, entry);
        }
        // Relative names depend on the working directory, which does not change under a running gateway.
        if (byName.size < 10_000) byName.set(file, entry);
      }
      return entry.queue.enqueue(device, input.payload, rawPayloadValue(input.rawPayload));
    },

    async close(): Promise<void> {
      closed = true;
      for (const { file, queue } of parsers.values()) {
        queue.close();
        file.dispose();
      }
      parsers.clear();
      byName.clear();
    },

    async stats(): Promise<ParserHostStats[]> {
      const out: ParserHostStats[] = [];
      for (const [path, { file }] of parsers) {
        const isolate = file.current;
        if (!isolate || isolate.disposed) continue;
        const heap = await isolate.heapStatistics();
        out.push({
          file: path,
          usedHeapBytes: heap.used_heap_size,
          totalHeapBytes: heap.total_heap_size,
          externalBytes: heap.externally_allocated_size,
        });
      }
      return out;
    },
  };
}

/** Binary raw payloads reach the parser as hex, the way the MQTT contract hands binary to parsers. */
function rawPayloadValue(raw: unknown): unknown {
  if (raw instanceof Uint8Array) return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('hex');
  return raw;
}
