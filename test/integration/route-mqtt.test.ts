/**
 * The `mqtt` route destination alone against a real mosquitto standing in for another cloud's broker:
 * TLS with client certificates (AWS IoT Core's way) and TLS with a username and password (Azure IoT Hub's
 * way). A subscriber with its own client certificate sees what the destination published. The outcomes
 * are the forwarder's contract: `delivered` only after every PUBACK, `retry` for everything else, and
 * never a rejection or a crash while the broker is down, stalled or refusing.
 */
import { readFileSync } from 'node:fs';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { type DestinationConfig, routeSchema } from '../../gateway/config/routes-schema.js';
import { createLogger } from '../../gateway/log.js';
import type { DataRecord } from '../../gateway/model.js';
import type { Delivery } from '../../gateway/routes/destination.js';
import { MqttDestination } from '../../gateway/routes/destinations/mqtt.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { waitFor } from '../helpers/stack.js';
import { startTlsMosquitto, type TlsMosquitto } from '../helpers/tls-mosquitto.js';

type MqttConfig = Extract<DestinationConfig, { type: 'mqtt' }>;

let broker: TlsMosquitto;
beforeAll(async () => {
  broker = await startTlsMosquitto();
});
afterAll(() => broker?.destroy());

/** The destination's config as the gateway would parse it (defaults applied). */
function config(destination: Record<string, unknown>): MqttConfig {
  const route = routeSchema.parse({ name: 'cloud', destination: { type: 'mqtt', ...destination } });
  return route.destination as MqttConfig;
}

/** The PUBACK timeout and the reconnect hold run on `clock`; MQTT.js's own connect timeout on real time. */
function destination(over: Record<string, unknown> = {}, clock = new ManualClock()): MqttDestination {
  const certs = { caFile: broker.caFile, certFile: broker.certFile, keyFile: broker.keyFile };
  const d = new MqttDestination(config({ url: broker.url, timeoutMs: 5_000, ...certs, ...over }), {
    route: 'cloud',
    log: createLogger('silent'),
    clock,
  });
  onTestFinished(() => d.close());
  return d;
}

let entryId = 0;
function records(...values: number[]): DataRecord[] {
  return values.map((value, i) => ({
    variable: i % 2 ? 'humidity' : 'temperature',
    value,
    time: '2026-01-01T00:00:00.000Z',
  }));
}

/** A delivery as the forwarder builds it from a stored batch (body = the records' JSON array). */
function delivery(name: string, recs: DataRecord[], id = 'dev-1'): Delivery {
  const body = JSON.stringify(recs);
  const eid = ++entryId;
  return {
    token: 'tok-never-published',
    device: { id, name },
    batch: {
      token: 'tok-never-published',
      ids: [eid],
      points: recs.length,
      records: recs,
      bytes: Buffer.byteLength(body),
      body,
      entries: [{ id: eid, records: recs }],
    },
  };
}

/** A subscriber with its own client certificate: every message on `filter`, in arrival order. */
async function subscribe(filter: string) {
  const client = await mqtt.connectAsync(broker.url, {
    protocolVersion: 4,
    reconnectPeriod: 0,
    ca: readFileSync(broker.caFile),
    cert: readFileSync(broker.certFile),
    key: readFileSync(broker.keyFile),
    clientId: `sub-${Math.random().toString(16).slice(2)}`,
  });
  onTestFinished(() => client.endAsync(true));
  const got: Array<{ topic: string; payload: string }> = [];
  client.on('message', (topic, payload) => got.push({ topic, payload: payload.toString() }));
  await client.subscribeAsync(filter, { qos: 1 });
  return got;
}

/**
 * A TCP relay in front of the broker (TLS passes through it untouched) that can drop what the client sends
 * (`hold`) and cut every connection: a connection lost with a publish on the way, while the broker and the
 * subscriber stay up.
 */
async function relay(port: number) {
  const sockets = new Set<Socket>();
  let holding = false;
  let held = 0;
  const server = createServer((client) => {
    const broker = connect(port, '127.0.0.1');
    const end = () => {
      client.destroy();
      broker.destroy();
    };
    for (const s of [client, broker]) {
      sockets.add(s);
      s.on('close', end).on('error', end);
    }
    client.on('data', (d: Buffer) => {
      if (holding) held += d.length;
      else broker.write(d);
    });
    broker.on('data', (d: Buffer) => client.write(d));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return {
    url: `mqtts://127.0.0.1:${address.port}`,
    get held() {
      return held;
    },
    hold(on: boolean) {
      holding = on;
    },
    cut() {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
  };
}

describe('mqtt destination (mosquitto over TLS)', () => {
  it('publishes a batch as its JSON array on the expanded topic, delivered on the PUBACK', async () => {
    const got = await subscribe('devices/#');
    const d = destination();
    const first = records(21.5, 40);
    expect(await d.deliver(delivery('sensor-1', first))).toEqual({ kind: 'delivered' });
    const second = records(22);
    expect(await d.deliver(delivery('sensor-1', second))).toEqual({ kind: 'delivered' });
    await waitFor(() => got.length >= 2);
    expect(got).toEqual([
      { topic: 'devices/sensor-1/messages/events/', payload: JSON.stringify(first) },
      { topic: 'devices/sensor-1/messages/events/', payload: JSON.stringify(second) },
    ]);
    expect(got.map((m) => m.payload).join()).not.toContain('tok-never-published');
  });

  it('with {variable} publishes one message per point, each the record’s JSON', async () => {
    const got = await subscribe('plant/#');
    const d = destination({ topic: 'plant/{deviceId}/{device}/{variable}' });
    const recs = records(1, 2, 3);
    expect(await d.deliver(delivery('boiler', recs, 'id-7'))).toEqual({ kind: 'delivered' });
    await waitFor(() => got.length >= 3);
    expect(got).toEqual([
      { topic: 'plant/id-7/boiler/temperature', payload: JSON.stringify(recs[0]) },
      { topic: 'plant/id-7/boiler/humidity', payload: JSON.stringify(recs[1]) },
      { topic: 'plant/id-7/boiler/temperature', payload: JSON.stringify(recs[2]) },
    ]);
  });

  it('keeps a device name with /, + or # in one topic level', async () => {
    const got = await subscribe('esc/+/data');
    const d = destination({ topic: 'esc/{device}/data' });
    for (const name of ['a/b', 'x+y', 'h#sh', '$SYS']) {
      expect(await d.deliver(delivery(name, records(5)))).toEqual({ kind: 'delivered' });
    }
    await waitFor(() => got.length >= 4);
    expect(got.map((m) => m.topic)).toEqual(['esc/a%2Fb/data', 'esc/x%2By/data', 'esc/h%23sh/data', 'esc/%24SYS/data']);
  });

  it('without a client certificate answers retry naming the TLS refusal, and again after the hold', async () => {
    const clock = new ManualClock();
    const d = destination({ certFile: undefined, keyFile: undefined }, clock);
    const refused = {
      kind: 'retry',
      error: 'TLS: tlsv13 alert certificate required (ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED)',
    };
    expect(await d.deliver(delivery('sensor-1', records(1)))).toEqual({ ...refused, retryAfterMs: 1_000 });
    clock.advance(1_000);
    expect(await d.deliver(delivery('sensor-1', records(1)))).toEqual({ ...refused, retryAfterMs: 2_000 });
  });

  it('username and password: wrong ones are CONNACK 5 (retry, nothing dropped), right ones deliver', async () => {
    const got = await subscribe('azure/#');
    const base = { url: broker.passwordUrl, topic: 'azure/{device}', certFile: undefined, keyFile: undefined };
    const wrong = destination({ ...base, username: broker.username, password: 'expired-sas-token' });
    expect(await wrong.deliver(delivery('sensor-1', records(1)))).toEqual({
      kind: 'retry',
      error: expect.stringMatching(/^broker refused the connection: CONNACK 5 \(not authorized\)/),
      retryAfterMs: 1_000,
    });
    const right = destination({ ...base, username: broker.username, password: broker.password });
    const recs = records(2);
    expect(await right.deliver(delivery('sensor-1', recs))).toEqual({ kind: 'delivered' });
    await waitFor(() => got.length >= 1);
    expect(got).toEqual([{ topic: 'azure/sensor-1', payload: JSON.stringify(recs) }]);
  });

  it('credentials in the URL are used and never logged', async () => {
    const lines: string[] = [];
    const url = broker.passwordUrl.replace('mqtts://', `mqtts://${broker.username}:${broker.password}@`);
    const d = new MqttDestination(config({ url, topic: 'inurl/{device}', caFile: broker.caFile }), {
      route: 'cloud',
      log: createLogger('info', { write: (line: string) => lines.push(line) }),
      clock: new ManualClock(),
    });
    onTestFinished(() => d.close());
    expect(await d.deliver(delivery('sensor-1', records(1)))).toEqual({ kind: 'delivered' });
    expect(lines.join('')).toContain(`"url":"${broker.passwordUrl}"`);
    expect(lines.join('')).not.toContain(broker.password);
  });

  it('broker stopped: retry without a crash, one connect per hold; started again: delivered', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    onTestFinished(() => {
      process.off('unhandledRejection', onUnhandled);
    });
    const clock = new ManualClock();
    const d = destination({ topic: 'outage/{device}' }, clock);
    expect(await d.deliver(delivery('sensor-1', records(1)))).toEqual({ kind: 'delivered' });
    await broker.stop();
    let lost: unknown;
    let held: unknown;
    try {
      lost = await d.deliver(delivery('sensor-1', records(2)));
      clock.advance(400);
      held = await d.deliver(delivery('sensor-2', records(2)));
    } finally {
      await broker.start();
    }
    const refused = expect.stringMatching(/^connect ECONNREFUSED 127\.0\.0\.1:/);
    expect(lost).toEqual({ kind: 'retry', error: refused, retryAfterMs: 1_000 });
    // Within the hold nothing connects, even though the broker is back.
    expect(held).toEqual({ kind: 'retry', error: refused, retryAfterMs: 600 });
    expect(await d.deliver(delivery('sensor-1', records(2)))).toEqual({
      kind: 'retry',
      error: refused,
      retryAfterMs: 600,
    });
    clock.advance(600);
    const got = await subscribe('outage/#');
    const recs = records(3);
    expect(await d.deliver(delivery('sensor-1', recs))).toEqual({ kind: 'delivered' });
    await waitFor(() => got.length >= 1);
    expect(got).toEqual([{ topic: 'outage/sensor-1', payload: JSON.stringify(recs) }]);
    await new Promise((r) => setImmediate(r));
    expect(unhandled).toEqual([]);
  });

  it('a broker that takes the publish but never PUBACKs: retry after timeoutMs, never resent on its own', async () => {
    const got = await subscribe('stall/#');
    const clock = new ManualClock();
    const d = destination({ topic: 'stall/{device}', timeoutMs: 1_000 }, clock);
    expect(await d.deliver(delivery('sensor-1', records(0)))).toEqual({ kind: 'delivered' });
    broker.pause();
    let outcome: unknown;
    try {
      const pending = d.deliver(delivery('sensor-1', records(1)));
      await waitFor(() => clock.pending === 1); // published, waiting for the PUBACK
      clock.advance(999);
      expect(clock.pending).toBe(1);
      clock.advance(1);
      outcome = await pending;
    } finally {
      broker.resume();
    }
    expect(outcome).toEqual({ kind: 'retry', error: 'no PUBACK within 1000 ms' });
    // The forwarder resends the batch; the destination itself must not (a new connection, a fresh store).
    expect(await d.deliver(delivery('sensor-1', records(2)))).toEqual({ kind: 'delivered' });
    await waitFor(() => got.some((m) => m.payload === JSON.stringify(records(2))));
    const copies = got.filter((m) => m.payload === JSON.stringify(records(1))).length;
    expect(copies).toBeLessThanOrEqual(1);
  });

  it('connection lost with a publish unacknowledged: retry, and MQTT.js never sends it again on its own', async () => {
    const got = await subscribe('lost/#');
    const link = await relay(broker.port);
    const d = destination({ url: link.url, topic: 'lost/{device}' });
    expect(await d.deliver(delivery('sensor-1', records(0)))).toEqual({ kind: 'delivered' });
    link.hold(true);
    const pending = d.deliver(delivery('sensor-1', records(1)));
    await waitFor(() => link.held > 0); // the publish left the client and never reaches the broker
    link.cut();
    link.hold(false);
    expect(await pending).toEqual({ kind: 'retry', error: expect.stringMatching(/^connection lost: /) });
    expect(await d.deliver(delivery('sensor-1', records(2)))).toEqual({ kind: 'delivered' });
    // One publisher's messages arrive in order: a resend of the lost publish would come before this one.
    await waitFor(() => got.length >= 2);
    expect(got.map((m) => m.payload)).toEqual([JSON.stringify(records(0)), JSON.stringify(records(2))]);
  });

  it('concurrent deliveries share the one connect and are each delivered', async () => {
    const got = await subscribe('many/#');
    const d = destination({ topic: 'many/{device}' });
    const names = ['s1', 's2', 's3', 's4'];
    const outcomes = await Promise.all(names.map((n) => d.deliver(delivery(n, records(9)))));
    expect(outcomes).toEqual(names.map(() => ({ kind: 'delivered' })));
    await waitFor(() => got.length >= 4);
    expect(got.map((m) => m.topic).sort()).toEqual(names.map((n) => `many/${n}`));
  });

  it('close() stops a connect in progress at once: the waiting delivery answers retry', async () => {
    const d = destination({ topic: 'closing/{device}', timeoutMs: 20_000 });
    broker.pause(); // the TLS handshake never completes
    try {
      const pending = d.deliver(delivery('sensor-1', records(1)));
      await d.close();
      expect(await pending).toMatchObject({ kind: 'retry' });
    } finally {
      broker.resume();
    }
  }, 5_000); // well under timeoutMs: close() does not wait for the connect timeout

  it('after close() answers retry', async () => {
    const d = destination({ topic: 'closed/{device}' });
    expect(await d.deliver(delivery('sensor-1', records(1)))).toEqual({ kind: 'delivered' });
    await d.close();
    expect(await d.deliver(delivery('sensor-1', records(2)))).toEqual({ kind: 'retry', error: 'destination closed' });
  });

  it('refuses to start with a TLS file it cannot read or a wildcard topic, naming the config path', () => {
    expect(() => destination({ certFile: '/nonexistent/client.crt' })).toThrow(
      'routes[cloud].destination.certFile: cannot read /nonexistent/client.crt: ENOENT',
    );
    // The config refuses a wildcard topic at load; the destination refuses one built without the schema too.
    expect(() => config({ url: broker.url, topic: 'plant/+/{device}' })).toThrow(/no MQTT wildcard/);
    const raw = { ...config({ url: broker.url }), topic: 'plant/+/{device}' };
    expect(() => new MqttDestination(raw, { route: 'cloud', log: createLogger('silent') })).toThrow(
      /routes\[cloud\]\.destination\.topic: .*wildcards/,
    );
  });
});
