/**
 * Payload parsers on the real data path: HTTP and MQTT messages of a device with a parser go through the
 * sandbox before validation; failures reject the message (400 / dead letter) and never stall others.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { request } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startStack, tempDir, waitFor } from '../helpers/stack.js';

const EXAMPLES = fileURLToPath(new URL('../../parsers/examples/', import.meta.url));

async function postRaw(base: string, token: string, body: string, contentType = 'text/plain') {
  const res = await request(`${base}/data`, {
    method: 'POST',
    headers: { 'content-type': contentType, 'device-token': token },
    body,
  });
  return {
    status: res.statusCode,
    body: (await res.body.json()) as { status: boolean; message?: string; result?: string },
  };
}

async function cloudData(simUrl: string, token: string) {
  const res = await request(`${simUrl}/data?qty=100&ordination=ascending`, { headers: { 'device-token': token } });
  return ((await res.body.json()) as { result: Array<Record<string, unknown>> }).result;
}

describe('payload parsers in the gateway', () => {
  it('decodes a hex frame over HTTP and over MQTT (binary → hex) with the example parser', async () => {
    const {
      http,
      mqtt: mqttUrl,
      sim,
    } = await startStack({
      devices: [{ name: 'hex', token: 'hex-tok', parser: join(EXAMPLES, 'hex-sensor.js') }],
    });
    const res = await postRaw(http, 'hex-tok', '0e1000eb37');
    expect(res).toMatchObject({ status: 200, body: { result: '3 Data Added' } });
    const client = await mqtt.connectAsync(mqttUrl, { username: 'Token', password: 'hex-tok', reconnectPeriod: 0 });
    onTestFinished(() => client.endAsync(true));
    await client.publishAsync('devices/hex/uplink', Buffer.from('0c1cff9c14', 'hex'), { qos: 1 });
    const got = await waitFor(async () => {
      const r = await cloudData(sim.url, 'hex-tok');
      return r.length === 6 ? r : null;
    });
    const values = got.map((r) => [r.variable, r.value, r.unit]);
    expect(values).toEqual(
      expect.arrayContaining([
        ['battery', 3.6, 'V'],
        ['temperature', 23.5, '°C'],
        ['humidity', 55, '%'],
        ['battery', 3.1, 'V'],
        ['temperature', -10, '°C'],
        ['humidity', 20, '%'],
      ]),
    );
  });

  it('fails closed: a parser error is a 400 with its message over HTTP, a dead letter over MQTT; nothing stored', async () => {
    const {
      http,
      mqtt: mqttUrl,
      sim,
      gw,
    } = await startStack({
      devices: [{ name: 'hex', token: 'hex-tok', parser: join(EXAMPLES, 'hex-sensor.js') }],
    });
    const res = await postRaw(http, 'hex-tok', 'zz-not-hex');
    expect(res.status).toBe(400);
    expect(res.body.message).toContain('hex-sensor: frame is not hex');
    const client = await mqtt.connectAsync(mqttUrl, { username: 'Token', password: 'hex-tok', reconnectPeriod: 0 });
    onTestFinished(() => client.endAsync(true));
    await client.publishAsync('devices/hex/uplink', Buffer.from('0102', 'hex'), { qos: 1 });
    const dead = await waitFor(async () => {
      const list = await gw.store.listDeadLetters();
      return list.length === 1 ? list : null;
    });
    expect(dead[0]?.reason).toBe('EDGE_ERR_PARSER');
    expect(dead[0]?.message).toContain('frame must be at least 5 bytes');
    expect(dead[0]?.records).toEqual([
      { variable: 'payload', value: '0102', metadata: { topic: 'devices/hex/uplink' } },
    ]);
    await new Promise((r) => setTimeout(r, 200));
    expect(sim.stats().points).toBe(0);
  });

  it('rejects parser output that breaks a record rule', async () => {
    const dir = tempDir();
    const file = join(dir, 'bad-output.js');
    writeFileSync(file, "payload = [{ variable: 'Bad-Name', value: 1 }];\n");
    const { http } = await startStack({ devices: [{ name: 'b', token: 'b-tok', parser: file }] });
    const res = await postRaw(http, 'b-tok', JSON.stringify({ variable: 'x', value: 1 }), 'application/json');
    expect(res.status).toBe(400);
    expect(res.body.message).toBe(
      'parser output record 0: variable "Bad-Name" contains "-" (not allowed: * ? ! < > . - = $ and spaces)',
    );
  });

  it('one device’s parser looping forever does not stop another device’s points reaching TagoIO', async () => {
    const dir = tempDir();
    const loop = join(dir, 'loop.js');
    writeFileSync(loop, 'while (true) {}\n');
    const { http, sim } = await startStack({
      parsers: { timeoutMs: 300 },
      devices: [
        { name: 'looper', token: 'loop-tok', parser: loop },
        { name: 'kv', token: 'kv-tok', parser: join(EXAMPLES, 'key-value-text.js') },
      ],
    });
    const stuck = postRaw(http, 'loop-tok', 'anything');
    const t0 = Date.now();
    for (let i = 0; i < 5; i++) {
      const ok = await postRaw(http, 'kv-tok', `temperature=${20 + i},humidity=40`);
      expect(ok.status).toBe(200);
    }
    expect(Date.now() - t0).toBeLessThan(1500);
    const failed = await stuck;
    expect(failed.status).toBe(400);
    expect(failed.body.message).toMatch(/time/i);
    await waitFor(() => sim.stats().tokens['kv-tok']?.points === 10);
  });

  it('gives the parser device params and tags, and reloads it when the file changes', async () => {
    const dir = tempDir();
    const file = join(dir, 'ctx.js');
    writeFileSync(
      file,
      "payload = [{ variable: 'site', value: device.tags.find((t) => t.key === 'site').value + ':' + device.params[0].value }];\n",
    );
    const { http, sim } = await startStack({
      devices: [
        {
          name: 'ctx',
          token: 'ctx-tok',
          parser: file,
          tags: [{ key: 'site', value: 'plant-7' }],
          params: [{ key: 'offset', value: '1.5' }],
        },
      ],
    });
    expect((await postRaw(http, 'ctx-tok', 'x')).status).toBe(200);
    await new Promise((r) => setTimeout(r, 20));
    writeFileSync(file, "payload = [{ variable: 'version', value: 2 }];\n");
    expect((await postRaw(http, 'ctx-tok', 'x')).status).toBe(200);
    const got = await waitFor(async () => {
      const r = await cloudData(sim.url, 'ctx-tok');
      return r.length === 2 ? r : null;
    });
    expect(got.map((r) => [r.variable, r.value])).toEqual([
      ['site', 'plant-7:1.5'],
      ['version', 2],
    ]);
  });
});
