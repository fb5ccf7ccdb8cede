import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { startStack, waitFor } from '../helpers/stack.js';

// The SDK reads its retry count once, at import: fail fast in tests.
process.env.TAGOIO_REQUEST_ATTEMPTS = '1';
const { Device } = await import('@tago-io/sdk');

describe('the official @tago-io/sdk pointed at the gateway', () => {
  it('sends records that reach TagoIO with the same variables, values, units and token', async () => {
    const { http, sim } = await startStack();
    const device = new Device({ token: 'sdk-token-0001', region: { api: http, sse: '' } });
    const result = await device.sendData([
      { variable: 'temperature', value: 22.1, unit: '°C' },
      { variable: 'humidity', value: 55, unit: '%' },
      { variable: 'door', value: true },
    ]);
    expect(result).toBe('3 Data Added');
    const got = await waitFor(async () => {
      const res = await request(`${sim.url}/data?qty=10&ordination=ascending`, {
        headers: { token: 'sdk-token-0001' },
      });
      const body = (await res.body.json()) as { result: Array<Record<string, unknown>> };
      return body.result.length === 3 ? body.result : null;
    });
    expect(got.map((r) => [r.variable, r.value, r.unit])).toEqual([
      ['temperature', 22.1, '°C'],
      ['humidity', 55, '%'],
      ['door', true, undefined],
    ]);
    expect(sim.stats().tokens['sdk-token-0001']?.points).toBe(3);
  });

  it('surfaces the gateway error message the way TagoIO does', async () => {
    const { http } = await startStack();
    const device = new Device({ token: 'sdk-token-0002', region: { api: http, sse: '' } });
    await expect(device.sendData({ variable: 'bad var', value: 1 })).rejects.toThrow(
      'record 0: variable "bad var" contains a space',
    );
  });
});
