/**
 * Push downlink end to end: `POST /publish` (TagoIO's MQTT relay contract) on the downlink port, delivered
 * over MQTT to real clients (mosquitto_sub, MQTT.js), queued durably while the device is offline, its
 * outcome at `GET /downlink/{id}`, the topic ACL and the answers for bad posts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import { deviceIdOf } from '../../gateway/auth/device-directory.js';
import { parseConfig } from '../../gateway/config/load.js';
import { waitFor } from '../helpers/stack.js';
import { device, metricValue, publish, SECRET, startDownlinkStack, status, waitForStatus } from './downlink-fixture.js';

/** mosquitto_sub as the device: `%r %t %p` per message; resolves once its SUBACK arrived (-d). */
async function mosquittoSub(port: number, token: string, topic: string) {
  // stdbuf: mosquitto_sub's stdout is block-buffered into a pipe; line by line here.
  const child: ChildProcess = spawn('stdbuf', [
    '-oL',
    'mosquitto_sub',
    ...['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv311', '-d'],
    ...['-u', 'Token', '-P', token, '-q', '1', '-t', topic, '-F', 'MSG %r %t %p'],
  ]);
  onTestFinished(() => {
    child.kill('SIGKILL');
  });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  await waitFor(() => out.includes('received SUBACK'));
  return { messages: () => out.split('\n').filter((l) => l.startsWith('MSG ')) };
}

describe('downlink push → MQTT', () => {
  it('mosquitto_sub receives a QoS 1 command posted to POST /publish; the outcome is delivered', async () => {
    const { gw, downlink } = await startDownlinkStack({ devices: [{ name: 'pump-1', token: 'tok-pump-1' }] });
    const sub = await mosquittoSub(Number(gw.ports.mqtt), 'tok-pump-1', 'devices/pump-1/cmd');
    const res = await publish(downlink, { topic: 'devices/pump-1/cmd', message: 'open-valve', qos: 1, retain: false });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe(true);
    const id = res.body.result?.id as string;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    await waitFor(() => sub.messages().length === 1);
    expect(sub.messages()).toEqual(['MSG 0 devices/pump-1/cmd open-valve']);
    await waitForStatus(downlink, id, 'delivered');
  });

  it('a retained command reaches a subscriber that comes later, with the retain flag', async () => {
    const { gw, downlink } = await startDownlinkStack();
    const res = await publish(downlink, { topic: 'site/lights/mode', message: 'night', qos: 1, retain: true });
    expect(res.status).toBe(200);
    const id = res.body.result?.id as string;
    expect(await status(downlink, id)).toBe('queued');
    const sub = await mosquittoSub(Number(gw.ports.mqtt), 'tok-late', 'site/lights/mode');
    await waitFor(() => sub.messages().length === 1);
    expect(sub.messages()).toEqual(['MSG 1 site/lights/mode night']);
    await waitForStatus(downlink, id, 'delivered');
  });

  it('a device offline at post time receives the command when it subscribes again', async () => {
    const { mqtt: url, downlink, http } = await startDownlinkStack();
    const token = 'tok-offline';
    const name = `device-${deviceIdOf(token).slice(0, 8)}`;
    const topic = `devices/${name}/cmd`;
    const first = await device(url, token);
    await first.client.subscribeAsync(topic, { qos: 1 });
    await first.client.endAsync();

    const res = await publish(downlink, { topic, message: 'reboot', qos: 1 });
    expect(res.status).toBe(200);
    const id = res.body.result?.id as string;
    expect(await status(downlink, id)).toBe('queued');
    expect(await metricValue(http, 'tago_edge_downlink_depth')).toBe(1);

    const again = await device(url, token);
    await again.client.subscribeAsync(topic, { qos: 1 });
    await waitFor(() => again.received.length === 1);
    expect(again.received[0]).toMatchObject({ topic, payload: 'reboot', qos: 1 });
    await waitForStatus(downlink, id, 'delivered');
    expect(await metricValue(http, 'tago_edge_downlink_depth')).toBe(0);
    expect(await metricValue(http, 'tago_edge_downlink_delivered_total')).toBe(1);
  });

  it('QoS 0 is delivered when written', async () => {
    const { mqtt: url, downlink } = await startDownlinkStack();
    const d = await device(url, 'tok-q0');
    await d.client.subscribeAsync('groups/all/announce', { qos: 0 });
    const res = await publish(downlink, { topic: 'groups/all/announce', message: 'hello', qos: 0 });
    await waitFor(() => d.received.length === 1);
    expect(d.received[0]).toMatchObject({ payload: 'hello', qos: 0 });
    await waitForStatus(downlink, res.body.result?.id as string, 'delivered');
  });

  it('a command for one device never reaches another, even one subscribed to its topic', async () => {
    const { mqtt: url, downlink } = await startDownlinkStack();
    const nameA = `device-${deviceIdOf('tok-a').slice(0, 8)}`;
    const topic = `devices/${nameA}/cmd`;
    const a = await device(url, 'tok-a');
    const b = await device(url, 'tok-b');
    // Passthrough lets B subscribe to any topic that does not start with a wildcard.
    await a.client.subscribeAsync(topic, { qos: 1 });
    await b.client.subscribeAsync(topic, { qos: 1 });
    await b.client.subscribeAsync('devices/+/cmd', { qos: 1 }).catch(() => undefined);
    await publish(downlink, { topic, message: 'for-a-only', qos: 1 });
    // A later message B does receive shows B's deliveries ran after the first one.
    await publish(downlink, { topic: 'broadcast/all', message: 'everyone', qos: 1 });
    await b.client.subscribeAsync('broadcast/all', { qos: 1 });
    await waitFor(() => a.received.length === 1);
    await waitFor(() => b.received.length === 1);
    expect(a.received.map((m) => m.payload)).toEqual(['for-a-only']);
    expect(b.received.map((m) => m.payload)).toEqual(['everyone']);
  });

  it('registry mode: a device may not subscribe to another device’s topic; the post for an unknown device is 404', async () => {
    const { mqtt: url, downlink } = await startDownlinkStack({
      auth: { mode: 'registry' },
      devices: [
        { name: 'valve-1', token: 'tok-valve-1' },
        { name: 'valve-2', token: 'tok-valve-2' },
      ],
    });
    const v2 = await device(url, 'tok-valve-2');
    // SUBACK 0x80: MQTT.js rejects the subscription.
    const refused = await v2.client.subscribeAsync('devices/valve-1/cmd', { qos: 1 }).then(
      () => null,
      (err: Error) => err,
    );
    expect(refused?.message).toContain('Subscribe error');
    const v1 = await device(url, 'tok-valve-1');
    await v1.client.subscribeAsync('devices/valve-1/cmd', { qos: 1 });
    const ok = await publish(downlink, { topic: 'devices/valve-1/cmd', message: 'close', qos: 1 });
    expect(ok.status).toBe(200);
    await waitFor(() => v1.received.length === 1);
    expect(v2.received).toEqual([]);

    const unknownTopic = await publish(downlink, { topic: 'devices/ghost/cmd', message: 'x' });
    expect(unknownTopic.status).toBe(404);
    expect(unknownTopic.body.message).toContain('topic: "ghost"');
    const unknownField = await publish(downlink, { topic: 'site/any', message: 'x', device: 'ghost' });
    expect(unknownField.status).toBe(404);
    expect(unknownField.body.message).toContain('device: "ghost"');
    const bySerial = await publish(downlink, { topic: 'devices/valve-1/cmd', message: 'x', serial: 'valve-1' });
    expect(bySerial.status).toBe(200);
  });

  it('HTTP devices read their queued commands with GET /data (the official SDK), once', async () => {
    const { http, downlink } = await startDownlinkStack({
      auth: { mode: 'registry' },
      devices: [{ name: 'meter-7', token: 'tok-meter-7' }],
    });
    const res = await publish(downlink, { topic: 'devices/meter-7/cmd', message: '{"interval":60}', qos: 1 });
    expect(res.status).toBe(200);
    const { Device } = await import('@tago-io/sdk');
    const sdk = new Device({ token: 'tok-meter-7', region: { api: http, sse: '' } });
    const got = await sdk.getData({ variables: ['downlink'] } as never);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({
      id: res.body.result?.id,
      variable: 'downlink',
      value: '{"interval":60}',
      metadata: { topic: 'devices/meter-7/cmd', qos: 1, retain: false },
    });
    expect(await sdk.getData({ variables: ['downlink'] } as never)).toEqual([]);
    expect(await status(downlink, res.body.result?.id as string)).toBe('delivered');
  });

  it('GET /data for other variables is read from TagoIO with the device token, after the queue’s records', async () => {
    const { http, downlink, sim } = await startDownlinkStack({
      auth: { mode: 'registry' },
      devices: [{ name: 'meter-8', token: 'tok-meter-8' }],
    });
    const { Device } = await import('@tago-io/sdk');
    const sdk = new Device({ token: 'tok-meter-8', region: { api: http, sse: '' } });
    await sdk.sendData({ variable: 'temperature', value: 21.5 });
    await waitFor(async () => sim.stats().requests.byStatus['200'] ?? 0);
    await publish(downlink, { topic: 'devices/meter-8/cmd', message: 'reset', qos: 1 });
    const both = (await sdk.getData({ variables: ['downlink', 'temperature'] } as never)) as unknown as Array<{
      variable: string;
      value: unknown;
    }>;
    expect(both.map((r) => [r.variable, r.value])).toEqual([
      ['downlink', 'reset'],
      ['temperature', 21.5],
    ]);
    const other = (await sdk.getData({ variables: ['temperature'] } as never)) as unknown as Array<{ value: unknown }>;
    expect(other.map((r) => r.value)).toEqual([21.5]);
    sim.setFaults({ refuseTokens: ['tok-meter-8'] });
    await expect(sdk.getData({ variables: ['temperature'] } as never)).rejects.toThrow('Authorization Denied');
  });
});

describe('downlink listener refusals', () => {
  it('answers 401 without the secret, accepts the raw secret and Bearer', async () => {
    const { downlink, http } = await startDownlinkStack();
    const body = { topic: 'a/b', message: 'm' };
    const none = await publish(downlink, body, null);
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ status: false });
    expect((await publish(downlink, body, 'wrong-secret-wrong-secret')).status).toBe(401);
    expect((await publish(downlink, body, `Bearer ${SECRET}x`)).status).toBe(401);
    expect((await publish(downlink, body, SECRET)).status).toBe(200);
    expect((await publish(downlink, body, `Bearer ${SECRET}`)).status).toBe(200);
    const st = await request(`${downlink}/downlink/00000000-0000-0000-0000-000000000000`);
    expect(st.statusCode).toBe(401);
    await st.body.dump();
    expect(await metricValue(http, 'tago_edge_downlink_refused_total')).toBe(4);
  });

  it('answers 400 naming the field, 413 over downlink.maxMessageBytes, 404 for an unknown id', async () => {
    const { downlink } = await startDownlinkStack({ downlink: { maxMessageBytes: 16 } });
    const cases: Array<[unknown, string]> = [
      [{ message: 'm' }, 'topic:'],
      [{ topic: 'a/#', message: 'm' }, 'topic:'],
      [{ topic: 'a/b' }, 'message:'],
      [{ topic: 'a/b', message: 'm', qos: 2 }, 'qos:'],
      [{ topic: 'a/b', message: 'm', retain: 'yes' }, 'retain:'],
      [{ topic: 'a/b', message: 'm', device: 7 }, 'device:'],
      [[1, 2], 'body:'],
    ];
    for (const [body, field] of cases) {
      const res = await publish(downlink, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.message?.startsWith(field), res.body.message).toBe(true);
    }
    const bad = await publish(downlink, null, SECRET, '{"topic":');
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('body: not valid JSON');
    const big = await publish(downlink, { topic: 'a/b', message: 'x'.repeat(17) });
    expect(big.status).toBe(413);
    expect(big.body.message).toContain('downlink.maxMessageBytes');
    expect(await status(downlink, '00000000-0000-0000-0000-000000000000')).toBeUndefined();
    const nf = await request(`${downlink}/downlink/nope`, { headers: { authorization: SECRET } });
    expect(nf.statusCode).toBe(404);
    await nf.body.dump();
  });

  it('answers 503 with Retry-After when downlink.maxQueued messages wait', async () => {
    const { downlink } = await startDownlinkStack({ downlink: { maxQueued: 2, retryAfterSeconds: 7 } });
    expect((await publish(downlink, { topic: 'q/1', message: 'a', qos: 1 })).status).toBe(200);
    expect((await publish(downlink, { topic: 'q/2', message: 'b', qos: 1 })).status).toBe(200);
    const full = await publish(downlink, { topic: 'q/3', message: 'c', qos: 1 });
    expect(full.status).toBe(503);
    expect(full.headers['retry-after']).toBe('7');
    expect(full.body.message).toContain('downlink.maxQueued');
  });

  it('past downlink.maxQueuedPerDevice the oldest becomes a dead letter, counted', async () => {
    const { downlink, http } = await startDownlinkStack({ downlink: { maxQueuedPerDevice: 2 } });
    const ids: string[] = [];
    for (const m of ['1', '2', '3']) {
      ids.push((await publish(downlink, { topic: 'devices/solo/cmd', message: m, qos: 1 })).body.result?.id as string);
    }
    expect(await status(downlink, ids[0] as string)).toBe('dead_letter');
    expect(await status(downlink, ids[2] as string)).toBe('queued');
    expect(await metricValue(http, 'tago_edge_downlink_dead_lettered_total')).toBe(1);
    const listed = await request(`${downlink}/downlink?status=dead_letter`, { headers: { authorization: SECRET } });
    const body = (await listed.body.json()) as { result: Array<{ id: string; reason: string }> };
    expect(body.result).toEqual([expect.objectContaining({ id: ids[0], reason: 'overflow' })]);
  });

  it('refuses a configuration that opens the listener without a secret', () => {
    expect(() => parseConfig({ downlink: { port: 3001 } })).toThrow(/downlink\.secret: required when downlink\.port/);
    expect(() => parseConfig({ downlink: { port: 3001, secret: 'short' } })).toThrow(/downlink\.secret/);
  });
});

describe('downlink to a persistent session', () => {
  it('a device that comes back with its session (clean: false) gets the queued command once', async () => {
    const { mqtt: url, downlink } = await startDownlinkStack({ devices: [{ name: 'sess-1', token: 'tok-sess-1' }] });
    const opts = { clean: false, clientId: 'sess-1-client' };
    const first = await device(url, 'tok-sess-1', opts);
    await first.client.subscribeAsync('devices/sess-1/cmd', { qos: 1 });
    await first.client.endAsync();

    const res = await publish(downlink, { topic: 'devices/sess-1/cmd', message: 'resume', qos: 1 });
    const id = res.body.result?.id as string;
    // No SUBSCRIBE this time: the broker restores the session's subscription.
    const again = await device(url, 'tok-sess-1', opts);
    await waitForStatus(downlink, id, 'delivered');
    const probe = await publish(downlink, { topic: 'devices/sess-1/cmd', message: 'after', qos: 1 });
    await waitForStatus(downlink, probe.body.result?.id as string, 'delivered');
    await waitFor(() => again.received.length >= 2);
    expect(again.received.map((m) => m.payload)).toEqual(['resume', 'after']);
  });
});

describe('downlink outcomes reported to TagoIO', () => {
  it('downlink.reportStatus: the outcome reaches the device bucket as a downlink_status point', async () => {
    const {
      mqtt: url,
      downlink,
      sim,
    } = await startDownlinkStack({
      auth: { mode: 'registry' },
      devices: [{ name: 'rep-1', token: 'tok-rep-1' }],
      downlink: { reportStatus: true, ttlMs: 60_000 },
    });
    const d = await device(url, 'tok-rep-1');
    await d.client.subscribeAsync('devices/rep-1/cmd', { qos: 1 });
    const res = await publish(downlink, { topic: 'devices/rep-1/cmd', message: 'go', qos: 1 });
    const id = res.body.result?.id as string;
    const points = await waitFor(async () => {
      const r = await request(`${sim.url}/data?variable=downlink_status`, { headers: { 'device-token': 'tok-rep-1' } });
      const list = ((await r.body.json()) as { result: Array<Record<string, unknown>> }).result;
      return list.length > 0 ? list : null;
    });
    expect(points).toHaveLength(1);
    expect(points[0]).toMatchObject({
      variable: 'downlink_status',
      value: 'delivered',
      metadata: { id, topic: 'devices/rep-1/cmd', reason: 'mqtt', source: 'push' },
    });
  });
});
