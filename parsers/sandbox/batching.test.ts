import { afterEach, describe, expect, it, vi } from 'vitest';
import { device, input, parserDir } from '../test/fixtures.js';
import { createParserHost, type SandboxParserHost } from './isolate-host.js';
import { ParserIsolate } from './parser-isolate.js';

let host: SandboxParserHost;
afterEach(async () => {
  vi.restoreAllMocks();
  await host?.close();
});

const frame = (n: number) => input([{ variable: 'payload', value: String(n) }]);
const ECHO = [
  'const v = payload[0].value;',
  'if (v === "throw") throw new Error("bad message " + v);',
  'if (v === "loop") for (;;) {}',
  'if (v === "shape") payload = 42;',
  'else payload = [{ variable: "n", value: Number(v) * 2 }];',
].join('\n');

describe('batching', () => {
  it('runs N concurrent messages of one parser in one isolate call, each getting its own result', async () => {
    const file = parserDir()('echo.js', ECHO);
    host = createParserHost({ timeoutMs: 1_000, memoryMb: 32 });
    await host.run(file, device, frame(0)); // load the isolate first, so the spy sees only the batch
    const calls = vi.spyOn(ParserIsolate.prototype, 'run');
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => host.run(file, device, frame(i))));
    expect(results).toEqual(Array.from({ length: 100 }, (_, i) => [{ variable: 'n', value: i * 2 }]));
    expect(calls).toHaveBeenCalledTimes(1);
  });

  it('messages that arrive while a batch runs go together in the next call', async () => {
    const file = parserDir()('echo.js', ECHO);
    host = createParserHost({ timeoutMs: 1_000, memoryMb: 32 });
    await host.run(file, device, frame(0));
    const calls = vi.spyOn(ParserIsolate.prototype, 'run');
    const first = host.run(file, device, frame(1));
    await Promise.resolve(); // the first batch has left
    await new Promise((r) => setImmediate(r));
    const later = Array.from({ length: 20 }, (_, i) => host.run(file, device, frame(i)));
    await Promise.all([first, ...later]);
    expect(calls.mock.calls.length).toBeLessThanOrEqual(3);
  });

  it('a throwing or badly shaped message in a batch fails only itself', async () => {
    const file = parserDir()('echo.js', ECHO);
    host = createParserHost({ timeoutMs: 1_000, memoryMb: 32 });
    const values = ['1', 'throw', '2', 'shape', '3'];
    const settled = await Promise.allSettled(
      values.map((v) => host.run(file, device, input([{ variable: 'payload', value: v }]))),
    );
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as { code: string }).code))).toEqual([
      [{ variable: 'n', value: 2 }],
      'EDGE_ERR_PARSER',
      [{ variable: 'n', value: 4 }],
      'EDGE_ERR_PARSER',
      [{ variable: 'n', value: 6 }],
    ]);
    expect((settled[1] as PromiseRejectedResult).reason.message).toBe('parser threw at line 2: bad message throw');
  });

  it('an endless loop in a batch times out only that message, within two time limits', async () => {
    const file = parserDir()('echo.js', ECHO);
    host = createParserHost({ timeoutMs: 300, memoryMb: 32 });
    await host.run(file, device, frame(0));
    const values = ['1', '2', 'loop', '3', '4'];
    const t0 = performance.now();
    const settled = await Promise.allSettled(
      values.map((v) => host.run(file, device, input([{ variable: 'payload', value: v }]))),
    );
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as { code: string }).code))).toEqual([
      [{ variable: 'n', value: 2 }],
      [{ variable: 'n', value: 4 }],
      'EDGE_ERR_PARSER_TIMEOUT',
      [{ variable: 'n', value: 6 }],
      [{ variable: 'n', value: 8 }],
    ]);
    expect(performance.now() - t0).toBeLessThan(2 * 300 + 400);
  });

  it('a memory bomb in a batch fails only that message; the others are retried in a fresh isolate', async () => {
    const file = parserDir()(
      'bomb.js',
      'if (payload[0].value === "bomb") { const a = []; for (;;) a.push({ n: Math.random() }); }\npayload = [{ variable: "v", value: payload[0].value }];',
    );
    host = createParserHost({ timeoutMs: 10_000, memoryMb: 16 });
    const values = ['a', 'bomb', 'b'];
    const settled = await Promise.allSettled(
      values.map((v) => host.run(file, device, input([{ variable: 'payload', value: v }]))),
    );
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as { code: string }).code))).toEqual([
      [{ variable: 'v', value: 'a' }],
      'EDGE_ERR_PARSER_MEMORY',
      [{ variable: 'v', value: 'b' }],
    ]);
  });
});

it('close() fails the messages still queued or running', async () => {
  const file = parserDir()('loop.js', 'for (;;) {}');
  host = createParserHost({ timeoutMs: 1_000, memoryMb: 32 });
  const running = host.run(file, device, frame(1)).catch((e: Error) => e);
  await new Promise((r) => setTimeout(r, 100));
  const queued = host.run(file, device, frame(2)).catch((e: Error) => e);
  await host.close();
  expect(await running).toMatchObject({ code: 'EDGE_ERR_PARSER', message: 'parser host is closed' });
  expect(await queued).toMatchObject({ code: 'EDGE_ERR_PARSER', message: 'parser host is closed' });
  await expect(host.run(file, device, frame(3))).rejects.toThrow('parser host is closed');
});
