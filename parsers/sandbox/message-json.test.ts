import { describe, expect, it } from 'vitest';
import type { ParserDevice } from '../parser-host.js';
import { messageJson } from './parser-queue.js';

const device: ParserDevice = {
  id: 'd1',
  name: 'pump "3"',
  tags: [{ key: 'site', value: 'north' }],
  params: [{ key: 'model', value: 'v2\n' }],
};

describe('messageJson (the message as the isolate gets it)', () => {
  it.each([
    ['a hex frame', [{ variable: 'payload', value: '0e1000eb37' }], '0e1000eb37'],
    ['a JSON body', [{ variable: 't', value: 21, metadata: { a: [1, null] } }], { variable: 't', value: 21 }],
    ['no raw payload', [{ variable: 'payload', value: 'x' }], undefined],
    ['a null raw payload', [], null],
    ['unicode', [{ variable: 'u', value: 'é\u2028😀' }], 'é\u2028😀'],
  ])('is byte for byte JSON.stringify({payload, raw_payload, device}): %s', (_name, payload, raw) => {
    const expected = JSON.stringify({ payload, raw_payload: raw, device });
    expect(messageJson(device, payload, raw)).toBe(expected);
    // The second call uses the remembered device JSON.
    expect(messageJson(device, payload, raw)).toBe(expected);
  });

  it('serialises each device object on its own (a reloaded device is a new object)', () => {
    const reloaded: ParserDevice = { ...device, name: 'renamed' };
    expect(JSON.parse(messageJson(device, [], 'a')).device.name).toBe('pump "3"');
    expect(JSON.parse(messageJson(reloaded, [], 'a')).device.name).toBe('renamed');
  });
});
