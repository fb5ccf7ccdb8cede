import { afterEach, describe, expect, it } from 'vitest';
import { expandRanges, runFleet, seededToken } from '../../simulators/fleet/index.js';
import { type Broker, startBroker } from './servers.js';

let broker: Broker | undefined;
afterEach(async () => {
  await broker?.close();
  broker = undefined;
});

const sorted = (xs: number[] | undefined) => [...(xs ?? [])].sort((a, b) => a - b);

describe('simulate over MQTT (aedes broker on port 0)', () => {
  it('publishes every point at QoS 1 with Token/device-token credentials and counts PUBACKs', async () => {
    broker = await startBroker();
    const s = await runFleet({ protocol: 'mqtt', targetMqtt: broker.url, devices: 25, ratePerSec: 500, count: 4 });
    expect(s.counts).toMatchObject({ scheduled: 100, sent: 100, acked: 100, errors: 0, unacked: 0 });
    expect(broker.publishes.get('tago/data/post')).toBe(100);
    expect(broker.passwords.has(seededToken(1, 0))).toBe(true);
    expect(broker.passwords.size).toBe(25);
    expect(s.connections).toMatchObject({ connected: 25, connectFailures: 0 });
    for (const [device, ranges] of Object.entries(s.acked)) {
      expect(ranges).toEqual([[0, 3]]);
      expect(sorted(broker.received.get(device))).toEqual(expandRanges(ranges));
    }
  });

  it('publishes hex frames as raw bytes to devices/<id>/uplink', async () => {
    broker = await startBroker();
    const s = await runFleet({
      protocol: 'mqtt',
      targetMqtt: broker.url,
      devices: 3,
      ratePerSec: 300,
      count: 2,
      profile: 'hex',
    });
    expect(s.counts.acked).toBe(6);
    expect(broker.publishes.get('devices/sim-1-0/uplink')).toBe(2);
  });

  it('counts bad publishes as bad sent (PUBACKed, not loss) by kind', async () => {
    broker = await startBroker();
    const s = await runFleet({
      protocol: 'mqtt',
      targetMqtt: broker.url,
      devices: 9,
      ratePerSec: 900,
      count: 20,
      profile: 'mixed',
      badRatio: 0.25,
    });
    expect(Object.keys(s.counts.badSent).sort()).toEqual([
      'bad-hex-frame',
      'forbidden-char',
      'invalid-json',
      'missing-variable',
      'value-too-long',
    ]);
    expect(s.counts.badAcked).toBe(s.counts.badSentTotal);
    expect(s.counts.acked + s.counts.badSentTotal).toBe(180);
    expect(s.counts.errors).toBe(0);
  });

  it('reconnects after the broker restarts and sends what was scheduled meanwhile', async () => {
    broker = await startBroker();
    const port = broker.port;
    const run = runFleet({ protocol: 'mqtt', targetMqtt: broker.url, devices: 5, ratePerSec: 50, durationMs: 2_500 });
    await new Promise((r) => setTimeout(r, 700));
    await broker.close();
    await new Promise((r) => setTimeout(r, 600));
    broker = await startBroker(port);
    const s = await run;
    expect(s.connections.disconnects).toBe(5);
    expect(s.connections.reconnects).toBe(5);
    expect(s.counts.errors).toBe(0);
    expect(s.counts.unacked).toBe(0);
    expect(s.counts.acked).toBe(s.counts.scheduled);
    // Points scheduled during the outage waited: their latency from schedule shows it.
    expect(s.latencyMs.fromSchedule.max).toBeGreaterThan(400);
  });

  it('reconnect storm: every device drops and comes back at once, nothing lost', async () => {
    broker = await startBroker();
    const s = await runFleet({
      protocol: 'mqtt',
      targetMqtt: broker.url,
      devices: 20,
      ratePerSec: 200,
      durationMs: 1_500,
      reconnectStormAtMs: 500,
    });
    expect(s.connections.disconnects).toBe(20);
    expect(s.connections.reconnects).toBe(20);
    expect(s.counts.acked).toBe(s.counts.scheduled);
  });

  it('overflows a bounded queue into errors when the broker is down', async () => {
    broker = await startBroker();
    const url = broker.url;
    await broker.close();
    broker = undefined;
    const s = await runFleet({
      protocol: 'mqtt',
      targetMqtt: url,
      devices: 2,
      ratePerSec: 100,
      count: 20,
      queueLimit: 5,
      drainMs: 200,
    });
    expect(s.connections.connectFailures).toBeGreaterThanOrEqual(2);
    expect(s.counts.errorsByKind['queue-overflow']).toBe(30);
    expect(s.counts.unacked).toBe(10);
  });
});

describe('simulate over MQTT on WebSocket', () => {
  it('publishes over ws:// to aedes behind a WebSocket server', async () => {
    const { createServer } = await import('node:http');
    const { WebSocketServer, createWebSocketStream } = await import('ws');
    const { Aedes } = await import('aedes');
    const aedes = await Aedes.createBroker();
    let publishes = 0;
    aedes.on('publish', (_p, client) => {
      if (client) publishes++;
    });
    const http = createServer();
    const wss = new WebSocketServer({ server: http });
    wss.on('connection', (ws) => aedes.handle(createWebSocketStream(ws) as never));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const port = (http.address() as import('node:net').AddressInfo).port;
    try {
      const s = await runFleet({
        protocol: 'ws',
        targetMqtt: `ws://127.0.0.1:${port}/`,
        devices: 4,
        ratePerSec: 200,
        count: 3,
      });
      expect(s.counts.acked).toBe(12);
      expect(publishes).toBe(12);
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      await new Promise<void>((r) => http.close(() => r()));
      await new Promise<void>((r) => aedes.close(() => r()));
    }
  });
});
