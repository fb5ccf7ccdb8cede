/**
 * Bounds the publishes inside the gateway (read from a socket, not yet answered) across all MQTT
 * connections. Past the bound a connection's next read waits, so what devices send meanwhile stays in the
 * kernel's socket buffers and TCP flow control slows them, instead of thousands of messages waiting in the
 * heap: there they outlive V8's young generation and are paid for again by old-generation GC (with 500
 * busy connections, 10 QoS 1 publishes each in flight, that GC was most of the cost per message:
 * docs/design/read-gate.md).
 *
 * How: aedes reads one chunk from a socket at a time and asks for the next (`client._nextBatch`, also its
 * 'readable' listener) once the chunk's packets are handled. The gate wraps that step: while the bound is
 * reached the step waits in a FIFO queue and runs when a publish inside is answered. A released read
 * parses synchronously, so the count grows as the queue is released and the release stops at the bound
 * (a read brings a whole chunk: the count may pass the bound by one chunk's publishes).
 *
 * aedes internals: `verifyReadGateInternals` checks at start-up, on a client the broker makes for the
 * purpose, that they are there and wired as expected, and refuses to start otherwise (another aedes version
 * must not silently stop the gating).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Client } from 'aedes';

type NextBatch = (err?: Error) => void;

interface AedesClientInternals {
  _nextBatch?: NextBatch;
  conn?: NodeJS.EventEmitter & { destroy?(err?: Error): void };
}

export class ReadGate {
  private inside = 0;
  private readonly waiting: Array<() => void> = [];
  private deferred = 0;

  constructor(private readonly max: number) {}

  /** A publish was read and enters ingest. */
  enter(): void {
    this.inside++;
  }

  /** A publish was answered (PUBACK written or the connection refused): reads waiting for room go on. */
  leave(): void {
    this.inside--;
    while (this.waiting.length > 0 && this.inside < this.max) this.waiting.shift()?.();
  }

  /** Gates a connected client's reads. */
  attach(client: Client): void {
    const c = client as unknown as AedesClientInternals;
    const next = c._nextBatch;
    const conn = c.conn;
    if (typeof next !== 'function' || !conn) return;
    const gated: NextBatch = (err) => {
      if (err || this.inside < this.max) {
        next(err);
        return;
      }
      this.deferred++;
      this.waiting.push(() => {
        // Released from another connection's answer: a failure here belongs to this connection alone.
        try {
          next();
        } catch (e) {
          conn.destroy?.(e as Error);
        }
      });
    };
    c._nextBatch = gated;
    conn.removeListener('readable', next);
    conn.on('readable', gated);
  }

  /** Publishes inside now. */
  get inFlight(): number {
    return this.inside;
  }

  /** Connections whose next read waits for room now. */
  get readsWaiting(): number {
    return this.waiting.length;
  }

  /** Reads that had to wait, since start. */
  get readsDeferred(): number {
    return this.deferred;
  }
}

/** The installed aedes's version, for the error message (its package exports nothing else). */
function aedesVersion(): string {
  try {
    const main = createRequire(import.meta.url).resolve('aedes');
    return (JSON.parse(readFileSync(join(dirname(main), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * Throws unless `client` (one the broker made) has the internals the gate wraps: `_nextBatch`, also its
 * connection's 'readable' listener.
 */
export function verifyReadGateInternals(client: Client): void {
  const c = client as unknown as AedesClientInternals;
  const wired =
    typeof c._nextBatch === 'function' &&
    c.conn !== undefined &&
    c.conn.listeners('readable').includes(c._nextBatch as (...args: unknown[]) => void);
  if (!wired) {
    throw new Error(
      `aedes ${aedesVersion()}: a client's _nextBatch is missing or no longer its connection's 'readable' listener; ` +
        'the MQTT read gate (mqtt.maxPublishesInFlight) cannot bound publishes with this version. ' +
        'Use the aedes version in package-lock.json, or adapt gateway/ingest/mqtt/read-gate.ts',
    );
  }
}
