import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { request } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startStack, waitFor } from '../helpers/stack.js';

const run = promisify(execFile);

/** `mosquitto_pub` (Debian's client) publishing one QoS 1 message on tago/data/post with the token. */
function mosquittoPub(port: number, token: string, message: string) {
  return run('mosquitto_pub', [
    ...['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv311'],
    ...['-u', 'Token', '-P', token, '-q', '1', '-t', 'tago/data/post', '-m', message],
  ]);
}

async function cloudData(simUrl: string, token: string) {
  const res = await request(`${simUrl}/data?qty=100&ordination=ascending`, { headers: { 'device-token': token } });
  return ((await res.body.json()) as { result: Array<Record<string, unknown>> }).result;
}

async function connect(url: string, token: string, opts: mqtt.IClientOptions = {}) {
  const client = await mqtt.connectAsync(url, {
    username: 'Token',
    password: token,
    protocolVersion: 4,
    reconnectPeriod: 0,
    ...opts,
  });
  onTestFinished(() => client.endAsync(true));
  return client;
}

describe('MQTT ingest', () => {
  it('mosquitto_pub QoS 1 on tago/data/post reaches TagoIO', async () => {
    const { gw, sim } = await startStack();
    await mosquittoPub(
      Number(gw.ports.mqtt),
      'mosq-token',
      JSON.stringify({ variable: 'pressure', value: 1013, unit: 'hPa' }),
    );
    const got = await waitFor(async () => {
      const r = await cloudData(sim.url, 'mosq-token');
      return r.length === 1 ? r : null;
    });
    expect(got[0]).toMatchObject({ variable: 'pressure', value: 1013, unit: 'hPa' });
  });

  it('MQTT.js QoS 1 on another topic arrives as the payload record with metadata.topic', async () => {
    const { mqtt: url, sim } = await startStack();
    const client = await connect(url, 'js-token');
    await client.publishAsync('site/boiler/status', 'running', { qos: 1 });
    await client.publishAsync('site/boiler/frame', Buffer.from([0x01, 0xff, 0x00, 0x10]), { qos: 1 });
    await client.publishAsync('site/boiler/json', JSON.stringify([{ variable: 'temp', value: 70 }]), { qos: 0 });
    const got = await waitFor(async () => {
      const r = await cloudData(sim.url, 'js-token');
      return r.length === 3 ? r : null;
    });
    const byTopic = Object.fromEntries(got.map((r) => [(r.metadata as { topic: string }).topic, r]));
    expect(byTopic['site/boiler/status']).toMatchObject({ variable: 'payload', value: 'running' });
    // Binary payloads travel as hex.
    expect(byTopic['site/boiler/frame']).toMatchObject({ variable: 'payload', value: '01ff0010' });
    // Without a parser, JSON on any topic is data, with the topic added to its metadata.
    expect(byTopic['site/boiler/json']).toMatchObject({ variable: 'temp', value: 70 });
  });

  it('refuses a CONNECT without a token, and an unknown token in registry mode', async () => {
    const { mqtt: url } = await startStack({ auth: { mode: 'registry' }, devices: [{ name: 'd', token: 'good' }] });
    await expect(connect(url, '')).rejects.toThrow(/Bad username or password|Not authorized/i);
    await expect(connect(url, 'bad')).rejects.toThrow(/Not authorized/i);
    const ok = await connect(url, 'good');
    expect(ok.connected).toBe(true);
  });

  it('mosquitto_pub with a refused token gets a CONNACK refusal', async () => {
    const { gw } = await startStack({ auth: { mode: 'registry' }, devices: [{ name: 'd', token: 'good' }] });
    const res = await mosquittoPub(Number(gw.ports.mqtt), 'wrong', '{}').catch(
      (err: { code: number; stderr: string }) => err,
    );
    expect((res as { code: number }).code).not.toBe(0);
    expect((res as { stderr: string }).stderr).toMatch(/not authori[sz]ed/i);
  });

  it('keeps an invalid publish as a dead letter, acknowledges it, and other points still flow', async () => {
    const { mqtt: url, sim, gw } = await startStack();
    const client = await connect(url, 'dl-token');
    await client.publishAsync('tago/data/post', '{"variable": broken', { qos: 1 });
    await client.publishAsync('tago/data/post', JSON.stringify({ variable: 'bad-name', value: 1 }), { qos: 1 });
    await client.publishAsync('tago/data/post', JSON.stringify({ variable: 'good', value: 2 }), { qos: 1 });
    expect(client.connected).toBe(true);
    await waitFor(() => sim.stats().tokens['dl-token']?.points === 1);
    const dead = await gw.store.listDeadLetters();
    expect(dead.map((d) => d.reason).sort()).toEqual(['EDGE_ERR_INVALID_BODY', 'EDGE_ERR_INVALID_RECORD']);
    expect(dead.find((d) => d.reason === 'EDGE_ERR_INVALID_RECORD')?.message).toContain(
      'variable "bad-name" contains "-"',
    );
    expect(JSON.stringify(dead)).not.toContain('dl-token');
  });

  it('closes $SYS to devices', async () => {
    const { mqtt: url } = await startStack();
    const client = await connect(url, 'sys-token');
    // SUBACK 0x80 for the filter (MQTT.js reports it as a subscribe error); the connection stays up.
    await expect(client.subscribeAsync('$SYS/#', { qos: 0 })).rejects.toThrow(/Subscribe error/);
    expect(client.connected).toBe(true);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish('$SYS/hack', 'x', { qos: 1 });
    await closed;
  });
});
