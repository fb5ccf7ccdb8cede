import { EventEmitter } from 'node:events';
import type { Client } from 'aedes';
import { describe, expect, it } from 'vitest';
import { ReadGate, verifyReadGateInternals } from '../../gateway/ingest/mqtt/read-gate.js';

/** The two aedes client internals the gate wraps: `_nextBatch` (also the conn's 'readable' listener). */
function fakeClient(name: string, log: string[], opts: { throws?: boolean; onRead?: () => void } = {}) {
  const conn = Object.assign(new EventEmitter(), { destroyed: null as Error | null });
  (conn as unknown as { destroy(err?: Error): void }).destroy = (err?: Error) => {
    conn.destroyed = err ?? new Error('destroyed');
  };
  const next = () => {
    if (opts.throws) throw new Error(`${name} broke`);
    log.push(name);
    opts.onRead?.(); // a real read parses its chunk at once: its publishes enter the gate synchronously
  };
  conn.on('readable', next);
  const client = { _nextBatch: next, conn } as unknown as Client & { _nextBatch(): void };
  return { client, conn };
}

describe('ReadGate', () => {
  it('lets reads through under the bound, holds them at it, releases them in order as publishes are answered', () => {
    const log: string[] = [];
    const gate = new ReadGate(2);
    const a = fakeClient('a', log);
    const b = fakeClient('b', log, { onRead: () => gate.enter() });
    const c = fakeClient('c', log, { onRead: () => gate.enter() });
    for (const x of [a, b, c]) gate.attach(x.client);
    a.client._nextBatch();
    expect(log).toEqual(['a']);
    gate.enter();
    gate.enter();
    b.client._nextBatch();
    c.conn.emit('readable'); // the 'readable' listener is gated too
    expect(log).toEqual(['a']);
    expect(gate.readsWaiting).toBe(2);
    gate.enter(); // a third already inside (one chunk past the bound)
    gate.leave(); // 2 inside: still at the bound
    expect(log).toEqual(['a']);
    gate.leave(); // 1 inside: one read goes, and its publish enters before the next is considered
    expect(log).toEqual(['a', 'b']);
    expect(gate.readsWaiting).toBe(1);
    gate.leave();
    expect(log).toEqual(['a', 'b', 'c']);
    expect({ inFlight: gate.inFlight, waiting: gate.readsWaiting, deferred: gate.readsDeferred }).toEqual({
      inFlight: 2,
      waiting: 0,
      deferred: 2,
    });
  });

  it('a read that throws when released closes its own connection; the others still read', () => {
    const log: string[] = [];
    const gate = new ReadGate(1);
    const bad = fakeClient('bad', log, { throws: true });
    const good = fakeClient('good', log);
    gate.attach(bad.client);
    gate.attach(good.client);
    gate.enter();
    bad.client._nextBatch();
    good.client._nextBatch();
    gate.leave();
    expect(bad.conn.destroyed?.message).toBe('bad broke');
    expect(log).toEqual(['good']);
  });
});

describe('verifyReadGateInternals', () => {
  it('passes a client wired as aedes wires it, and refuses to start with one that is not', () => {
    const { client } = fakeClient('ok', []);
    expect(() => verifyReadGateInternals(client)).not.toThrow();
    const missing = { conn: new EventEmitter() } as unknown as Client;
    expect(() => verifyReadGateInternals(missing)).toThrow(/^aedes \S+: a client's _nextBatch is missing/);
    // Present, but no longer the connection's 'readable' listener: wrapping it would gate nothing.
    const unwired = { _nextBatch: () => undefined, conn: new EventEmitter() } as unknown as Client;
    expect(() => verifyReadGateInternals(unwired)).toThrow(/read gate \(mqtt.maxPublishesInFlight\)/);
  });
});
