import { afterEach, describe, expect, it, vi } from 'vitest';
import { device, input, parserDir } from '../test/fixtures.js';
import { CallGate } from './call-gate.js';
import { createParserHost, type SandboxParserHost } from './isolate-host.js';
import { ParserIsolate } from './parser-isolate.js';

let host: SandboxParserHost | undefined;
afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  await host?.close();
  host = undefined;
});

describe('CallGate', () => {
  it('grants at most `limit` slots and the next waiter, in arrival order, when one is released', async () => {
    vi.useFakeTimers();
    const gate = new CallGate(2, 1_000);
    const a = await gate.acquire();
    await gate.acquire();
    const order: string[] = [];
    const c = gate.acquire().then((r) => {
      order.push('c');
      return r;
    });
    const d = gate.acquire().then((r) => {
      order.push('d');
      return r;
    });
    await Promise.resolve();
    expect(gate.running).toBe(2);
    expect(order).toEqual([]);
    a();
    a(); // a second release of the same slot frees nothing more
    await c;
    expect(order).toEqual(['c']);
    expect(gate.running).toBe(2);
    (await c)();
    await d;
    expect(order).toEqual(['c', 'd']);
  });

  it('lends a slot held longer than lendAfterMs to the next waiter', async () => {
    vi.useFakeTimers();
    const gate = new CallGate(1, 10);
    await gate.acquire(); // never released: a runaway call
    let granted = false;
    const next = gate.acquire().then(() => {
      granted = true;
    });
    await vi.advanceTimersByTimeAsync(9);
    expect(granted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await next;
    expect(granted).toBe(true);
  });

  it('refuses a limit under 1', () => {
    expect(() => new CallGate(0)).toThrow(RangeError);
  });
});

describe('parser host concurrency', () => {
  // Busy for `ms` of the isolate's own time, so that calls of different files overlap.
  const busy = (ms: number) =>
    `const end = Date.now() + ${ms}; while (Date.now() < end) {}\npayload = [{ variable: "v", value: payload[0].value }];`;

  it('runs at most concurrentCalls parser isolates at once, whatever the number of files', async () => {
    const write = parserDir();
    const files = Array.from({ length: 12 }, (_, i) => write(`p${i}.js`, busy(5)));
    host = createParserHost({ timeoutMs: 2_000, memoryMb: 16, concurrentCalls: 2, lendAfterMs: 5_000 });
    await Promise.all(files.map((f) => host!.run(f, device, input([{ variable: 'payload', value: 0 }]))));
    let inFlight = 0;
    let most = 0;
    const run = ParserIsolate.prototype.run;
    vi.spyOn(ParserIsolate.prototype, 'run').mockImplementation(function (this: ParserIsolate, json, timeoutMs) {
      most = Math.max(most, ++inFlight);
      return run.call(this, json, timeoutMs).finally(() => inFlight--);
    });
    const out = await Promise.all(
      files.map((f, i) => host!.run(f, device, input([{ variable: 'payload', value: i }]))),
    );
    expect(out).toEqual(files.map((_, i) => [{ variable: 'v', value: i }]));
    expect(most).toBe(2);
  });

  it('an endless loop holds its slot only lendAfterMs: another parser runs beside it', async () => {
    const write = parserDir();
    const loop = write('loop.js', 'for (;;) {}');
    const fast = write('fast.js', 'payload = [{ variable: "fast", value: 1 }];');
    // Counts the slots it has granted, so the test knows when the loop holds one.
    const gate = new (class extends CallGate {
      granted = 0;
      override async acquire() {
        const release = await super.acquire();
        this.granted++;
        return release;
      }
    })(1, 10);
    host = createParserHost({ timeoutMs: 1_000, memoryMb: 16, gate });
    await host.run(fast, device, input());
    const order: string[] = [];
    const looping = host.run(loop, device, input()).catch((e: { code: string }) => order.push(e.code));
    // Until the loop has been granted the only slot (its file loads first); then the fast parser asks for it.
    await vi.waitFor(() => expect(gate.granted).toBe(2), { timeout: 5_000 });
    const quick = host.run(fast, device, input()).then(() => order.push('fast'));
    await Promise.all([looping, quick]);
    expect(order).toEqual(['fast', 'EDGE_ERR_PARSER_TIMEOUT']);
  });

  it('waiting for a slot does not count against the time limit', async () => {
    const write = parserDir();
    const a = write('a.js', busy(150));
    const b = write('b.js', busy(150));
    host = createParserHost({ timeoutMs: 250, memoryMb: 16, concurrentCalls: 1, lendAfterMs: 5_000 });
    // Both parsers are loaded, so each call below runs about 150 ms; b waits about 150 ms for a first.
    await host.run(a, device, input([{ variable: 'payload', value: 0 }]));
    await host.run(b, device, input([{ variable: 'payload', value: 0 }]));
    const out = await Promise.all([
      host.run(a, device, input([{ variable: 'payload', value: 'a' }])),
      host.run(b, device, input([{ variable: 'payload', value: 'b' }])),
    ]);
    expect(out).toEqual([[{ variable: 'v', value: 'a' }], [{ variable: 'v', value: 'b' }]]);
  });
});
