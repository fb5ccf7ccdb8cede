/**
 * Resource limits: HTTP header/request timeouts (slowloris) and keep-alive; MQTT maximum packet size
 * (aedes has none: admission/mqtt-packet-guard.ts), topic levels, connect timeout, connection cap.
 * Each test uses small limits so that it finishes in about a second.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import mqtt from 'mqtt';
import { describe, expect, it, onTestFinished } from 'vitest';
import { rawSocket } from '../helpers/raw-socket.js';
import { startStack, waitFor } from '../helpers/stack.js';
import { closed, connectMqtt, post } from './fixtures.js';

async function closedWithin(sock: Socket, ms: number): Promise<number> {
  const t0 = Date.now();
  await Promise.race([
    once(sock, 'close'),
    new Promise((_r, reject) => setTimeout(() => reject(new Error(`socket still open after ${ms} ms`)), ms)),
  ]);
  return Date.now() - t0;
}

/** MQTT 3.1.1 CONNECT with a password, as bytes. */
function connectPacket(password: string, clientId = 'raw'): Buffer {
  const str = (s: string) => {
    const b = Buffer.from(s);
    return Buffer.concat([Buffer.from([b.length >> 8, b.length & 255]), b]);
  };
  const body = Buffer.concat([
    str('MQTT'),
    Buffer.from([4, 0b11000010, 0, 60]),
    str(clientId),
    str('Token'),
    str(password),
  ]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

describe('HTTP resource limits', () => {
  it('cuts off a client trickling its headers (slowloris) at headersTimeoutMs', async () => {
    const { gw, http } = await startStack({ http: { headersTimeoutMs: 500, requestTimeoutMs: 1_000 } });
    const sock = rawSocket(gw.ports.http);
    await once(sock, 'connect');
    sock.write('POST /data HTTP/1.1\r\nhost: x\r\n');
    let answer = '';
    sock.setEncoding('utf8').on('data', (d: string) => {
      answer += d;
    });
    const timer = setInterval(() => sock.writable && sock.write('x-slow: 1\r\n'), 100);
    onTestFinished(() => clearInterval(timer));
    const ms = await closedWithin(sock, 3_000);
    clearInterval(timer);
    expect(ms).toBeLessThan(2_500);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    // The server is fine afterwards.
    expect((await post(http, { variable: 'x', value: 1 }, { 'device-token': 't' })).status).toBe(200);
  });

  it('closes an idle keep-alive connection after keepAliveTimeoutMs', async () => {
    const { gw } = await startStack({ http: { keepAliveTimeoutMs: 300 } });
    const sock = rawSocket(gw.ports.http);
    await once(sock, 'connect');
    sock.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
    await once(sock, 'data');
    // Node 20 adds a 1 s buffer to the keep-alive socket timeout.
    const ms = await closedWithin(sock, 4_000);
    expect(ms).toBeLessThan(2_500);
  });

  it('refuses an over-limit body with 413 (declared or streamed)', async () => {
    const { http } = await startStack({ http: { bodyLimitBytes: 1_000 } });
    const r = await post(http, 'x'.repeat(2_000), { 'device-token': 't', 'content-type': 'text/plain' });
    expect(r.status).toBe(413);
    expect(r.body.status).toBe(false);
  });
});

describe('MQTT resource limits', () => {
  it('a publish over mqtt.maxPacketBytes closes the connection; nothing is stored; others carry on', async () => {
    const { mqtt: url, sim, gw } = await startStack({ mqtt: { maxPacketBytes: 1_024 } });
    const big = await connectMqtt(url, 'big');
    const gone = closed(big);
    big.publish('tago/data/post', JSON.stringify({ variable: 'x', value: 'y'.repeat(2_000) }), { qos: 1 });
    await gone;
    const ok = await connectMqtt(url, 'small');
    await ok.publishAsync('tago/data/post', JSON.stringify({ variable: 'x', value: 1 }), { qos: 1 });
    await waitFor(() => sim.stats().tokens.small?.points === 1);
    expect(sim.stats().tokens.big).toBeUndefined();
    expect(await gw.store.listDeadLetters()).toEqual([]);
  });

  it('a header declaring a 256 MB packet is cut off at once, before any body arrives', async () => {
    const { gw } = await startStack();
    const sock = rawSocket(gw.ports.mqtt);
    await once(sock, 'connect');
    sock.write(connectPacket('tok'));
    await once(sock, 'data'); // CONNACK
    // PUBLISH, remaining length 268,435,455 (the MQTT maximum), then nothing.
    sock.write(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x01, 0x61]));
    expect(await closedWithin(sock, 2_000)).toBeLessThan(1_000);
  });

  it('a malformed remaining length (5 bytes) closes the connection', async () => {
    const { gw } = await startStack();
    const sock = rawSocket(gw.ports.mqtt);
    await once(sock, 'connect');
    sock.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01]));
    await closedWithin(sock, 2_000);
  });

  it('a topic over mqtt.maxTopicLevels closes the connection', async () => {
    const { mqtt: url, sim } = await startStack({ mqtt: { maxTopicLevels: 4 } });
    const c = await connectMqtt(url, 'deep');
    await c.publishAsync('a/b/c/d', 'ok', { qos: 1 });
    const gone = closed(c);
    c.publish('a/b/c/d/e', 'too deep', { qos: 1 });
    await gone;
    await waitFor(() => sim.stats().tokens.deep?.points === 1);
  });

  it('a TCP connection that sends no CONNECT is closed at connectTimeoutMs', async () => {
    const { gw } = await startStack({ mqtt: { connectTimeoutMs: 300 } });
    const sock = rawSocket(gw.ports.mqtt);
    await once(sock, 'connect');
    const ms = await closedWithin(sock, 3_000);
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(2_000);
  });

  it('the connection cap refuses the connection after mqtt.maxConnections', async () => {
    const { mqtt: url } = await startStack({ mqtt: { maxConnections: 2 } });
    await connectMqtt(url, 'a', { clientId: 'cap-a' });
    await connectMqtt(url, 'b', { clientId: 'cap-b' });
    const third = mqtt.connect(url, { password: 'c', clientId: 'cap-c', protocolVersion: 4, reconnectPeriod: 0 });
    onTestFinished(() => third.endAsync(true));
    const outcome = await new Promise<string>((resolve) => {
      third.once('connect', () => resolve('connected'));
      third.once('close', () => resolve('closed'));
    });
    expect(outcome).toBe('closed');
  });
});
