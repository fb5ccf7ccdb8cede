import { afterEach, describe, expect, it } from 'vitest';
import type { ParserConsoleEvent, ParserRunEvent } from '../events.js';
import { parserEvents } from '../events.js';
import { device, input, parserDir } from '../test/fixtures.js';
import { createParserHost, type SandboxParserHost } from './isolate-host.js';

let host: SandboxParserHost;
afterEach(async () => {
  await host?.close();
});

function newHost(opts: { timeoutMs?: number; memoryMb?: number } = {}) {
  host = createParserHost({ timeoutMs: opts.timeoutMs ?? 300, memoryMb: opts.memoryMb ?? 32 });
  return host;
}

describe('parser contract', () => {
  it('runs top-level statements and returns whatever payload holds at the end', async () => {
    const file = parserDir()(
      'p.js',
      'payload = payload.map((r) => ({ ...r, unit: "x" }));\npayload.push({ variable: "n", value: payload.length });',
    );
    const out = await newHost().run(file, device, input([{ variable: 'a', value: 1 }]));
    expect(out).toEqual([
      { variable: 'a', value: 1, unit: 'x' },
      { variable: 'n', value: 1 },
    ]);
  });

  it('exposes raw_payload and device with its tags and params', async () => {
    const file = parserDir()(
      'p.js',
      'payload = [{ variable: "raw", value: raw_payload }, { variable: "id", value: device.id, metadata: { name: device.name } },\n' +
        '  { variable: "site", value: device.tags.find((t) => t.key === "site").value },\n' +
        '  { variable: "offset", value: Number(device.params.find((p) => p.key === "offset").value) }];',
    );
    const out = await newHost().run(file, device, input([], 'hello'));
    expect(out).toEqual([
      { variable: 'raw', value: 'hello' },
      { variable: 'id', value: 'dev-1', metadata: { name: 'Sensor 1' } },
      { variable: 'site', value: 'north' },
      { variable: 'offset', value: 2 },
    ]);
  });

  it('hands a binary raw payload to the parser as hex', async () => {
    const file = parserDir()('p.js', 'payload = [{ variable: "raw", value: raw_payload }];');
    const out = await newHost().run(file, device, input([], Buffer.from([0x0e, 0x10])));
    expect(out).toEqual([{ variable: 'raw', value: '0e10' }]);
  });

  it('runs TypeScript parsers with their types stripped, and maps lines back to the .ts file', async () => {
    const write = parserDir();
    const ok = write(
      'ok.ts',
      'interface R { variable: string; value: number }\nconst out: R[] = [{ variable: "t", value: 1 as number }];\npayload = out;',
    );
    expect(await newHost().run(ok, device, input())).toEqual([{ variable: 't', value: 1 }]);
    const bad = write(
      'bad.ts',
      'type Frame = {\n  a: number;\n};\nconst f: Frame = { a: 1 };\nif (f.a === 1) {\n  throw new Error("typed boom");\n}\n',
    );
    await expect(host.run(bad, device, input())).rejects.toMatchObject({
      code: 'EDGE_ERR_PARSER',
      message: 'parser threw at line 6: typed boom',
    });
  });

  it('gives the real Buffer: hex/base64/utf8, read/write ints and floats, slice, toString', async () => {
    const file = parserDir()(
      'p.js',
      [
        'const b = Buffer.from("0e1000eb37", "hex");',
        'const w = Buffer.alloc(12);',
        'w.writeInt16LE(-2, 0); w.writeUInt32BE(0xdeadbeef, 2); w.writeFloatBE(1.5, 6); w.writeInt8(-1, 10);',
        'const d = Buffer.alloc(8); d.writeDoubleLE(Math.PI, 0);',
        'payload = [',
        '  { variable: "u16", value: b.readUInt16BE(0) }, { variable: "i16", value: b.readInt16BE(2) },',
        '  { variable: "u8", value: b.readUInt8(4) }, { variable: "len", value: b.length },',
        '  { variable: "slice", value: b.slice(1, 3).toString("hex") }, { variable: "sub", value: b.subarray(3).toString("hex") },',
        '  { variable: "w", value: w.toString("hex") }, { variable: "f", value: w.readFloatBE(6) }, { variable: "i8", value: w.readInt8(10) },',
        '  { variable: "i16le", value: w.readInt16LE(0) }, { variable: "dbl", value: d.readDoubleLE(0) },',
        '  { variable: "b64", value: Buffer.from("aGVsbG8=", "base64").toString("utf8") },',
        '  { variable: "tob64", value: Buffer.from("héllo", "utf8").toString("base64") },',
        '  { variable: "isbuf", value: Buffer.isBuffer(b) }, { variable: "u32le", value: Buffer.from("01000000", "hex").readUInt32LE(0) },',
        '];',
      ].join('\n'),
    );
    const out = (await newHost().run(file, device, input())) as Array<{ variable: string; value: unknown }>;
    expect(Object.fromEntries(out.map((r) => [r.variable, r.value]))).toEqual({
      u16: 3600,
      i16: 235,
      u8: 55,
      len: 5,
      slice: '1000',
      sub: 'eb37',
      w: 'feffdeadbeef3fc00000ff00',
      f: 1.5,
      i8: -1,
      i16le: -2,
      dbl: Math.PI,
      b64: 'hello',
      tob64: Buffer.from('héllo', 'utf8').toString('base64'),
      isbuf: true,
      u32le: 1,
    });
  });

  it('gives dayjs with the utc and timezone plugins', async () => {
    const file = parserDir()(
      'p.js',
      [
        'const t = dayjs.utc("2024-01-15T12:00:00Z");',
        'payload = [',
        '  { variable: "sp", value: t.tz("America/Sao_Paulo").format("YYYY-MM-DD HH:mm Z") },',
        '  { variable: "tokyo", value: dayjs.tz("2024-07-01 09:00", "Asia/Tokyo").toISOString() },',
        '  { variable: "iso", value: t.add(1, "day").toISOString() },',
        '];',
      ].join('\n'),
    );
    const out = await newHost().run(file, device, input());
    expect(out).toEqual([
      { variable: 'sp', value: '2024-01-15 09:00 -03:00' },
      { variable: 'tokyo', value: '2024-07-01T00:00:00.000Z' },
      { variable: 'iso', value: '2024-01-16T12:00:00.000Z' },
    ]);
  });

  it('captures console.log/debug/error per message and publishes each line', async () => {
    const lines: ParserConsoleEvent[] = [];
    const off = parserEvents.parserConsole.subscribe((e) => lines.push(e));
    try {
      const file = parserDir()(
        'p.js',
        'console.log("frame", payload.length, { a: 1 });\nconsole.debug("dbg");\nconsole.error(new Error("oops").message);',
      );
      await newHost().run(file, device, input());
      expect(lines).toEqual([
        { deviceId: 'dev-1', level: 'log', message: 'frame 1 {"a":1}' },
        { deviceId: 'dev-1', level: 'debug', message: 'dbg' },
        { deviceId: 'dev-1', level: 'error', message: 'oops' },
      ]);
    } finally {
      off();
    }
  });

  it('publishes one parserRun event per message with its outcome', async () => {
    const runs: ParserRunEvent[] = [];
    const off = parserEvents.parserRun.subscribe((e) => runs.push(e));
    try {
      const write = parserDir();
      newHost();
      await host.run(write('ok.js', 'payload = [];'), device, input());
      await host.run(write('bad.js', 'throw new Error("x");'), device, input()).catch(() => {});
      expect(runs.map((r) => [r.deviceId, r.outcome, r.messages])).toEqual([
        ['dev-1', 'ok', 1],
        ['dev-1', 'EDGE_ERR_PARSER', 1],
      ]);
      expect(runs.every((r) => r.durationMs >= 0)).toBe(true);
    } finally {
      off();
    }
  });
});

describe('fail closed', () => {
  it('a throw rejects with ParserError naming the line', async () => {
    const file = parserDir()('p.js', 'const a = 1;\n\nthrow new Error("bad frame");\n');
    await expect(newHost().run(file, device, input())).rejects.toMatchObject({
      name: 'ParserError',
      code: 'EDGE_ERR_PARSER',
      message: 'parser threw at line 3: bad frame',
    });
  });

  it('a runtime TypeError names its type and line; a thrown string is reported too', async () => {
    const write = parserDir();
    newHost();
    await expect(
      host.run(write('a.js', '// comment\nconst x = undefined;\nx.y = 1;'), device, input()),
    ).rejects.toThrow(/^parser threw at line 3: TypeError: Cannot set properties of undefined/);
    await expect(host.run(write('b.js', 'throw "just a string";'), device, input())).rejects.toThrow(
      'parser threw: just a string',
    );
  });

  it('a syntax error rejects with ParserLoadError naming the line', async () => {
    const file = parserDir()('p.js', 'const ok = 1;\nconst = 2;\n');
    await expect(newHost().run(file, device, input())).rejects.toMatchObject({
      code: 'EDGE_ERR_PARSER_LOAD',
      message: expect.stringMatching(/does not compile: line 2: /),
    });
  });

  it('a missing file rejects with ParserLoadError', async () => {
    await expect(newHost().run('/nonexistent/p.js', device, input())).rejects.toMatchObject({
      code: 'EDGE_ERR_PARSER_LOAD',
      message: expect.stringContaining('cannot read parser /nonexistent/p.js'),
    });
  });

  it('an endless loop rejects with ParserTimeoutError, and the parser still works afterwards', async () => {
    const file = parserDir()(
      'p.js',
      'if (payload[0].value === "loop") { for (;;) {} }\npayload = [{ variable: "ok", value: 1 }];',
    );
    newHost({ timeoutMs: 200 });
    const t0 = performance.now();
    await expect(host.run(file, device, input([{ variable: 'payload', value: 'loop' }]))).rejects.toMatchObject({
      code: 'EDGE_ERR_PARSER_TIMEOUT',
      message: 'parser ran past its 200 ms time limit (an endless loop?)',
    });
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect(await host.run(file, device, input())).toEqual([{ variable: 'ok', value: 1 }]);
  });

  it('a heap bomb rejects with ParserMemoryError, and a fresh isolate serves the next message', async () => {
    const file = parserDir()(
      'p.js',
      'if (payload[0].value === "bomb") { const a = []; for (;;) a.push({ n: Math.random(), s: "x".repeat(64) }); }\npayload = [];',
    );
    newHost({ timeoutMs: 10_000, memoryMb: 16 });
    await expect(host.run(file, device, input([{ variable: 'payload', value: 'bomb' }]))).rejects.toMatchObject({
      code: 'EDGE_ERR_PARSER_MEMORY',
      message: expect.stringContaining('16 MB memory limit'),
    });
    expect(await host.run(file, device, input())).toEqual([]);
  });

  it('a huge buffer allocation rejects with ParserMemoryError', async () => {
    const file = parserDir()('p.js', 'const big = Buffer.alloc(512 * 1024 * 1024);\npayload = [];');
    await expect(newHost({ memoryMb: 16 }).run(file, device, input())).rejects.toMatchObject({
      code: 'EDGE_ERR_PARSER_MEMORY',
    });
  });

  it.each([
    [
      'an object',
      'payload = { variable: "a" };',
      'payload must be an array of records when the parser ends, got an object',
    ],
    ['undefined', 'payload = undefined;', 'got a undefined'],
    ['a string', 'payload = "x";', 'got a string'],
    ['a non-object item', 'payload = [{ variable: "a" }, 5];', 'payload[1] is a number, not a record object'],
    ['a null item', 'payload = [null];', 'payload[0] is null, not a record object'],
    ['a cycle', 'const r = { variable: "a" }; r.self = r; payload = [r];', 'not JSON-serialisable'],
  ])('a result that is %s rejects with ParserError', async (_what, code, message) => {
    const file = parserDir()('p.js', code);
    const err = await newHost()
      .run(file, device, input())
      .catch((e: Error) => e);
    expect(err).toMatchObject({ code: 'EDGE_ERR_PARSER' });
    expect((err as Error).message).toContain('parser returned a bad result: ');
    expect((err as Error).message).toContain(message);
  });

  it('an endless loop in one parser does not delay another parser', async () => {
    const write = parserDir();
    const loop = write('loop.js', 'for (;;) {}');
    const fast = write('fast.js', 'payload = [{ variable: "fast", value: 1 }];');
    newHost({ timeoutMs: 1_500 });
    await host.run(fast, device, input()); // warm: compile once
    const looping = host.run(loop, device, input()).catch((e: Error) => e);
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    expect(await host.run(fast, device, input())).toEqual([{ variable: 'fast', value: 1 }]);
    expect(performance.now() - t0).toBeLessThan(500);
    expect(await looping).toMatchObject({ code: 'EDGE_ERR_PARSER_TIMEOUT' });
  });
});
