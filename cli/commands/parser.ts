/**
 * `tago-edge parser run FILE`: runs a payload parser exactly the way the gateway does (same sandbox, same
 * limits, same errors). stdout carries only the resulting JSON array, so it can be piped; the parser's
 * console goes to stderr. Exit codes: 0 parsed, 1 the parser failed, 2 bad usage.
 */
import { existsSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { isEdgeError } from '../../gateway/errors.js';
import { events } from '../../gateway/events.js';
import {
  DEFAULT_MEMORY_MB,
  DEFAULT_TIMEOUT_MS,
  type ParseInput,
  type ParserDevice,
} from '../../parsers/parser-host.js';
import { exitWhenSettled } from '../exit.js';
import { UsageError } from '../usage-error.js';

interface RunOptions {
  payload?: string;
  raw?: string;
  rawHex?: string;
  device?: string;
  timeoutMs: number;
  memoryMb: number;
}

const EXAMPLES = `
The parser sees the globals payload, raw_payload, device, console, Buffer and dayjs, as on TagoIO.
Give exactly one of --payload, --raw or --raw-hex.

Examples:
  $ tago-edge parser run parsers/examples/hex-sensor.js --raw-hex 0e1000eb37
  $ tago-edge parser run parsers/examples/key-value-text.js --raw 'temperature=21.5,humidity=40'
  $ tago-edge parser run parsers/examples/fahrenheit-to-celsius.js \\
      --payload '[{"variable":"temperature","value":77,"unit":"F"}]'
  $ tago-edge parser run my-parser.ts --payload '{"variable":"payload","value":"0102"}' \\
      --device '{"name":"pump 3","params":[{"key":"model","value":"v2"}]}'

Exit codes: 0 parsed (the JSON array on stdout), 1 the parser threw, timed out, ran out of memory,
returned a non-array or did not compile (reason on stderr), 2 bad usage.
`;

export function registerParser(program: Command): void {
  const parser = program.command('parser').description('payload parsers: run one the way the gateway does');
  parser
    .command('run')
    .description('run a payload parser (.js or .ts) on one message and print the resulting TagoIO data array')
    .argument('<file>', 'the parser file (.js, or .ts: types are stripped, not checked)')
    .option('--payload <json>', 'the payload global: a TagoIO record or an array of records, as JSON')
    .option('--raw <text>', 'a raw text body: payload becomes [{"variable":"payload","value":TEXT}]')
    .option('--raw-hex <hex>', 'a raw binary frame as hex: payload becomes [{"variable":"payload","value":HEX}]')
    .option('--device <json>', 'the device global as JSON: {"id","name","tags":[{key,value}],"params":[{key,value}]}')
    .option(
      '--timeout-ms <n>',
      'time limit per message, in milliseconds',
      positiveInt('--timeout-ms'),
      DEFAULT_TIMEOUT_MS,
    )
    .option(
      '--memory-mb <n>',
      'isolate memory limit, in MB (at least 8)',
      positiveInt('--memory-mb'),
      DEFAULT_MEMORY_MB,
    )
    .addHelpText('after', EXAMPLES)
    .action(async (file: string, opts: RunOptions) => {
      if (!existsSync(file)) throw new UsageError(`FILE: no such parser file: ${file}`);
      const input = buildInput(opts);
      const device = parseDevice(opts.device);
      const { createParserHost } = await import('../../parsers/sandbox/index.js');
      const host = createParserHost({ timeoutMs: opts.timeoutMs, memoryMb: opts.memoryMb });
      const stopConsole = events.parserConsole.subscribe(({ level, message }) => {
        process.stderr.write(`[${level}] ${message}\n`);
      });
      try {
        const result = await host.run(file, device, input);
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      } catch (err) {
        if (!isEdgeError(err)) throw err;
        process.stderr.write(`tago-edge parser: ${err.code}: ${err.message}\n`);
        process.exitCode = 1;
      } finally {
        stopConsole();
        await host.close();
      }
      // Not a natural exit: isolated-vm has run in this process (cli/exit.ts).
      exitWhenSettled(typeof process.exitCode === 'number' ? process.exitCode : 0);
    });
}

function buildInput(opts: RunOptions): ParseInput {
  const given = [opts.payload, opts.raw, opts.rawHex].filter((v) => v !== undefined).length;
  if (given !== 1) throw new UsageError('give exactly one of --payload, --raw or --raw-hex');
  if (opts.raw !== undefined) return { payload: [{ variable: 'payload', value: opts.raw }], rawPayload: opts.raw };
  if (opts.rawHex !== undefined) {
    const hex = opts.rawHex.replace(/\s+/g, '').toLowerCase();
    if (!/^([0-9a-f]{2})*$/.test(hex))
      throw new UsageError(`--raw-hex: not an even number of hex digits: ${opts.rawHex}`);
    return { payload: [{ variable: 'payload', value: hex }], rawPayload: hex };
  }
  const value = parseJson('--payload', opts.payload!);
  const records = Array.isArray(value) ? value : [value];
  records.forEach((r, i) => {
    if (r === null || typeof r !== 'object' || Array.isArray(r)) {
      throw new UsageError(`--payload: record ${i} is not an object`);
    }
  });
  return { payload: records, rawPayload: value };
}

function parseDevice(json: string | undefined): ParserDevice {
  const device: ParserDevice = { id: 'cli', name: 'cli', tags: [], params: [] };
  if (json === undefined) return device;
  const value = parseJson('--device', json);
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new UsageError('--device: not an object');
  const given = value as Record<string, unknown>;
  for (const key of ['id', 'name'] as const) {
    if (given[key] === undefined) continue;
    if (typeof given[key] !== 'string') throw new UsageError(`--device: ${key} must be a string`);
    device[key] = given[key];
  }
  for (const key of ['tags', 'params'] as const) {
    if (given[key] === undefined) continue;
    const list = given[key];
    if (!Array.isArray(list) || !list.every(isKeyValue)) {
      throw new UsageError(`--device: ${key} must be an array of {"key","value"} objects`);
    }
    device[key] = list;
  }
  return device;
}

function isKeyValue(v: unknown): v is { key: string; value: string } {
  return v !== null && typeof v === 'object' && typeof (v as { key?: unknown }).key === 'string';
}

function parseJson(flag: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${flag}: not valid JSON: ${(err as Error).message}`);
  }
}

function positiveInt(flag: string) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${flag} must be a positive integer`);
    return n;
  };
}
