import { utimesSync, writeFileSync } from 'node:fs';
import { afterEach, expect, it, vi } from 'vitest';
import { device, input, parserDir } from '../test/fixtures.js';
import { createParserHost, type SandboxParserHost } from './isolate-host.js';
import { ParserIsolate } from './parser-isolate.js';

let host: SandboxParserHost;
afterEach(async () => {
  vi.restoreAllMocks();
  await host?.close();
});

it('compiles once, and recompiles when the file changes', async () => {
  const file = parserDir()('p.js', 'payload = [{ variable: "version", value: 1 }];');
  host = createParserHost({ timeoutMs: 1_000, memoryMb: 32 });
  const creates = vi.spyOn(ParserIsolate, 'create');
  expect(await host.run(file, device, input())).toEqual([{ variable: 'version', value: 1 }]);
  expect(await host.run(file, device, input())).toEqual([{ variable: 'version', value: 1 }]);
  expect(creates).toHaveBeenCalledTimes(1);

  writeFileSync(file, 'payload = [{ variable: "version", value: 2 }];');
  utimesSync(file, new Date(), new Date(Date.now() + 5_000)); // a different mtime even on coarse clocks
  expect(await host.run(file, device, input())).toEqual([{ variable: 'version', value: 2 }]);
  expect(creates).toHaveBeenCalledTimes(2);

  // Touched but unchanged: no recompilation.
  utimesSync(file, new Date(), new Date(Date.now() + 10_000));
  expect(await host.run(file, device, input())).toEqual([{ variable: 'version', value: 2 }]);
  expect(creates).toHaveBeenCalledTimes(2);
});

it('a broken edit fails closed until the file is fixed', async () => {
  const file = parserDir()('p.js', 'payload = [{ variable: "ok", value: 1 }];');
  host = createParserHost({ timeoutMs: 1_000, memoryMb: 32 });
  await host.run(file, device, input());
  writeFileSync(file, 'payload = [{ variable: "ok", value: 1 };');
  utimesSync(file, new Date(), new Date(Date.now() + 5_000));
  await expect(host.run(file, device, input())).rejects.toMatchObject({ code: 'EDGE_ERR_PARSER_LOAD' });
  await expect(host.run(file, device, input())).rejects.toMatchObject({ code: 'EDGE_ERR_PARSER_LOAD' });
  writeFileSync(file, 'payload = [{ variable: "ok", value: 3 }];');
  utimesSync(file, new Date(), new Date(Date.now() + 10_000));
  expect(await host.run(file, device, input())).toEqual([{ variable: 'ok', value: 3 }]);
});
