import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createParserHost } from '../sandbox/isolate-host.js';
import { device } from '../test/fixtures.js';

const example = (name: string) => fileURLToPath(new URL(name, import.meta.url));
const host = createParserHost({ timeoutMs: 1_000, memoryMb: 32 });
afterAll(() => host.close());

describe.each(['hex-sensor.js', 'hex-sensor.ts'])('%s', (name) => {
  const file = example(name);

  it.each(['payload', 'payload_raw', 'data'])(
    'decodes the frame in the %s record into grouped records',
    async (variable) => {
      const out = await host.run(file, device, {
        payload: [
          { variable: 'rssi', value: -70 },
          { variable, value: '0e10ff9c37', time: '2024-05-01T10:00:00Z' },
        ],
        rawPayload: '0e10ff9c37',
      });
      expect(out).toEqual([
        { variable: 'rssi', value: -70 },
        { variable: 'battery', value: 3.6, unit: 'V', group: expect.any(String), time: '2024-05-01T10:00:00Z' },
        { variable: 'temperature', value: -10, unit: '°C', group: expect.any(String), time: '2024-05-01T10:00:00Z' },
        { variable: 'humidity', value: 55, unit: '%', group: expect.any(String), time: '2024-05-01T10:00:00Z' },
      ]);
      const groups = new Set((out as Array<{ group?: string }>).slice(1).map((r) => r.group));
      expect(groups.size).toBe(1);
    },
  );

  it.each([
    [[{ variable: 'other', value: 1 }], 'no payload, payload_raw or data record'],
    [[{ variable: 'payload', value: 'zz' }], 'frame is not hex: "zz"'],
    [[{ variable: 'payload', value: '0e10' }], 'frame must be at least 5 bytes, got 2'],
  ])('fails closed on a bad frame %j', async (payload, message) => {
    await expect(host.run(file, device, { payload, rawPayload: '' })).rejects.toMatchObject({
      code: 'EDGE_ERR_PARSER',
      message: expect.stringMatching(new RegExp(`^parser threw at line \\d+: hex-sensor: ${escapeRegExp(message)}`)),
    });
  });
});

describe('fahrenheit-to-celsius.js', () => {
  const file = example('fahrenheit-to-celsius.js');
  it('converts temperature to °C and leaves the rest alone', async () => {
    const out = await host.run(file, device, {
      payload: [
        { variable: 'temperature', value: 77, unit: 'F', group: 'g1' },
        { variable: 'humidity', value: 40, unit: '%' },
        { variable: 'temperature', value: 20, unit: '°C' },
      ],
      rawPayload: null,
    });
    expect(out).toEqual([
      { variable: 'temperature', value: 25, unit: '°C', group: 'g1' },
      { variable: 'humidity', value: 40, unit: '%' },
      { variable: 'temperature', value: 20, unit: '°C' },
    ]);
  });
  it('throws on a non-numeric temperature', async () => {
    await expect(
      host.run(file, device, { payload: [{ variable: 'temperature', value: 'hot' }], rawPayload: null }),
    ).rejects.toThrow(/^parser threw at line 11: temperature is not a number: "hot"/);
  });
});

describe('key-value-text.js', () => {
  const file = example('key-value-text.js');
  it('decodes key=value text into typed records sharing a group', async () => {
    const text = 'temperature=21.5,humidity=40; Door Open=true\nlabel=north';
    const out = await host.run(file, device, {
      payload: [{ variable: 'payload', value: text, group: 'g7' }],
      rawPayload: text,
    });
    expect(out).toEqual([
      { variable: 'temperature', value: 21.5, group: 'g7' },
      { variable: 'humidity', value: 40, group: 'g7' },
      { variable: 'door_open', value: true, group: 'g7' },
      { variable: 'label', value: 'north', group: 'g7' },
    ]);
  });
  it('throws naming a pair without "="', async () => {
    await expect(
      host.run(file, device, { payload: [{ variable: 'payload', value: 'temperature=1,oops' }], rawPayload: '' }),
    ).rejects.toThrow('key-value-text: "oops" is not key=value');
  });
});

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
