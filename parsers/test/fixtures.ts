/** Parser files written to a temp dir per test, removed when the test ends. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import type { ParserDevice } from '../parser-host.js';

export function parserDir(): (name: string, code: string) => string {
  const dir = mkdtempSync(join(tmpdir(), 'tago-edge-parsers-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return (name, code) => {
    const file = join(dir, name);
    writeFileSync(file, code);
    return file;
  };
}

export const device: ParserDevice = {
  id: 'dev-1',
  name: 'Sensor 1',
  tags: [{ key: 'site', value: 'north' }],
  params: [{ key: 'offset', value: '2' }],
};

export function input(payload: unknown[] = [{ variable: 'payload', value: '00' }], rawPayload: unknown = '00') {
  return { payload, rawPayload };
}
