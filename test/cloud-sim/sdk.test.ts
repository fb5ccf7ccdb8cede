import { beforeAll, describe, expect, it } from 'vitest';
import { sim } from './sim-fixture.js';

// The SDK reads its retry count once, at import: one attempt keeps error cases fast.
process.env.TAGOIO_REQUEST_ATTEMPTS = '1';
let Device: typeof import('@tago-io/sdk').Device;
beforeAll(async () => {
  ({ Device } = await import('@tago-io/sdk'));
});

describe('cloud-sim with the official @tago-io/sdk', () => {
  it('sendData then getData round-trips (the SDK sends `token` and `variables[0]=`)', async () => {
    const s = await sim({ tokens: ['sdk-token'] });
    const device = new Device({ token: 'sdk-token', region: { api: s.url, sse: '' } });
    const sent = await device.sendData([
      { variable: 'x', value: 1 },
      { variable: 'x', value: 2, unit: 'm' },
      { variable: 'y', value: 3 },
    ]);
    expect(sent).toBe('3 Data Added');
    const data = await device.getData({ variables: ['x'], qty: 5 });
    expect(data).toHaveLength(2);
    expect(data.map((d) => d.value).sort()).toEqual([1, 2]);
    expect(data[0]?.time).toBeInstanceOf(Date);
    const info = await device.info();
    expect(info).toMatchObject({ type: 'immutable' });
  });

  it('surfaces 401 and 429 messages to SDK callers', async () => {
    const s = await sim({ tokens: ['good'], requestsPerMinute: 1 });
    const bad = new Device({ token: 'bad', region: { api: s.url, sse: '' } });
    await expect(bad.sendData({ variable: 'x', value: 1 })).rejects.toThrow('Authorization Denied');
    const good = new Device({ token: 'good', region: { api: s.url, sse: '' } });
    await good.sendData({ variable: 'x', value: 1 });
    await expect(good.sendData({ variable: 'x', value: 1 })).rejects.toThrow(/Too many requests \(Retry-After: \d+\)/);
  });
});
