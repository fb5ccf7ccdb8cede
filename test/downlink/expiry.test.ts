/**
 * Expiry on the gateway's clock: a command whose `downlink.ttlMs` passed while its device was offline is
 * not delivered when the device comes back; it is counted, logged and kept with status `expired`. Only
 * `Date` is faked (the sockets and aedes keep real timers): the store stamps and compares with the
 * clock's `now()`, and the sweep runs on its own short real interval.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { waitFor } from '../helpers/stack.js';
import { device, metricValue, publish, startDownlinkStack, status } from './downlink-fixture.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('downlink expiry', () => {
  it('an expired command does not arrive and is counted', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
    const {
      mqtt: url,
      downlink,
      http,
    } = await startDownlinkStack({
      auth: { mode: 'registry' },
      devices: [{ name: 'tank-3', token: 'tok-tank-3' }],
      downlink: { ttlMs: 60_000, sweepIntervalMs: 20 },
    });
    const old = await publish(downlink, { topic: 'devices/tank-3/cmd', message: 'drain', qos: 1 });
    expect(old.status).toBe(200);
    const oldId = old.body.result?.id as string;

    vi.setSystemTime(new Date('2026-01-01T00:00:59Z'));
    await new Promise((r) => setTimeout(r, 60));
    expect(await status(downlink, oldId)).toBe('queued');

    vi.setSystemTime(new Date('2026-01-01T00:01:01Z'));
    await waitFor(async () => (await status(downlink, oldId)) === 'expired');
    expect(await metricValue(http, 'tago_edge_downlink_expired_total')).toBe(1);
    expect(await metricValue(http, 'tago_edge_downlink_depth')).toBe(0);

    const fresh = await publish(downlink, { topic: 'devices/tank-3/cmd', message: 'fill', qos: 1 });
    const tank = await device(url, 'tok-tank-3');
    await tank.client.subscribeAsync('devices/tank-3/cmd', { qos: 1 });
    await waitFor(() => tank.received.length >= 1);
    await waitFor(async () => (await status(downlink, fresh.body.result?.id as string)) === 'delivered');
    expect(tank.received.map((m) => m.payload)).toEqual(['fill']);
  });
});
