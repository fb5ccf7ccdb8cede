/**
 * Hostile input: malformed, truncated, deeply nested and prototype-polluting JSON, invalid UTF-8, huge
 * strings, out-of-range numbers, random bytes and malformed MQTT on the raw ports, and 2,000 idle TCP
 * connections. For each: a clear answer, the process stays up (a later valid POST answers 200), and other
 * devices' points still reach the cloud (cloud-sim).
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type Stack, startStack, waitFor } from '../helpers/stack.js';
import { connectMqtt, post } from './fixtures.js';

let seq = 0;
/** A bystander device: a valid POST answers 200 and its point reaches the cloud. */
async function stillServes(stack: Stack): Promise<void> {
  const token = `bystander-${++seq}`;
  const r = await post(stack.http, { variable: 'ok', value: seq }, { 'device-token': token });
  expect(r.status).toBe(200);
  await waitFor(() => stack.sim.stats().tokens[token]?.points === 1);
}

function raw(port: number): Socket {
  const s = netConnect(port, '127.0.0.1');
  s.on('error', () => {});
  s.resume(); // read whatever comes back, so that the server's close reaches 'close' here
  onTestFinished(() => {
    s.destroy();
  });
  return s;
}

async function closesWithin(sock: Socket, ms: number): Promise<void> {
  if (sock.destroyed) return;
  await Promise.race([
    new Promise((resolve) => sock.once('close', resolve)),
    new Promise((_r, reject) => setTimeout(() => reject(new Error(`socket still open after ${ms} ms`)), ms)),
  ]);
}

const H = { 'device-token': 'hostile' };

describe('hostile HTTP bodies', () => {
  it('malformed and truncated JSON: 400 naming the problem', async () => {
    const stack = await startStack();
    for (const body of ['{"variable": ', '{"variable":"x","value":1', '[{"variable":"x"},', '{]', 'nul', '"', '']) {
      const r = await post(stack.http, body, H);
      expect(r.status, body).toBe(400);
      expect(r.body.status).toBe(false);
      expect(String(r.body.message)).toMatch(/JSON|body|record/i);
    }
    await stillServes(stack);
  });

  it('deeply nested JSON (100k "["), balanced or not, and nested metadata', async () => {
    const stack = await startStack();
    const open = '['.repeat(100_000);
    const r1 = await post(stack.http, open, H);
    expect(r1.status).toBe(400);
    const r2 = await post(stack.http, open + ']'.repeat(100_000), H);
    expect(r2.status).toBe(400);
    const deepMeta = `{"variable":"x","value":1,"metadata":{"a":${'['.repeat(5_000)}${']'.repeat(5_000)}}}`;
    const r3 = await post(stack.http, deepMeta, H);
    expect(r3.status).toBe(400);
    expect(r3.body.message).toBe('body is nested deeper than 64 levels');
    const deepObj = `{"variable":"x","metadata":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}`;
    const r4 = await post(stack.http, deepObj, H);
    expect(r4.status).toBe(400);
    expect(r4.body.status).toBe(false);
    await stillServes(stack);
  });

  it('__proto__ and constructor keys do not pollute prototypes', async () => {
    const stack = await startStack();
    const bodies = [
      '{"variable":"p1","value":1,"__proto__":{"polluted":"yes"}}',
      '{"variable":"p2","value":1,"metadata":{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}}',
      '[{"variable":"p3","value":1,"constructor":{"prototype":{"polluted":"yes"}}}]',
      '{"__proto__":{"variable":"p4","value":1}}',
    ];
    for (const b of bodies) {
      const r = await post(stack.http, b, H);
      expect([200, 400], b).toContain(r.status);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.create(null).polluted).toBeUndefined();
    await stillServes(stack);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('invalid UTF-8, huge strings, 1e400 and other out-of-range values get a clear answer', async () => {
    const stack = await startStack();
    const invalidUtf8 = Buffer.concat([
      Buffer.from('{"variable":"u","value":"'),
      Buffer.from([0xff, 0xfe, 0xc3]),
      Buffer.from('"}'),
    ]);
    const u = await post(stack.http, invalidUtf8, H);
    expect([200, 400]).toContain(u.status);
    const rawBin = await post(stack.http, randomBytes(512), { ...H, 'content-type': 'application/octet-stream' });
    expect(rawBin.status).toBe(200); // kept as the hex `payload` record (no parser)

    const longValue = await post(stack.http, { variable: 'big', value: 'x'.repeat(7_000) }, H);
    expect(longValue.status).toBe(400);
    expect(String(longValue.body.message)).toMatch(/record 0/);
    const longVar = await post(stack.http, { variable: 'v'.repeat(101), value: 1 }, H);
    expect(longVar.status).toBe(400);
    const huge = await post(stack.http, `{"variable":"x","value":"${'y'.repeat(300_000)}"}`, H);
    expect(huge.status).toBe(413);

    const inf = await post(stack.http, '{"variable":"n","value":1e400}', H);
    expect(inf.status).toBe(400);
    expect(String(inf.body.message)).toMatch(/record 0/);
    const negInf = await post(stack.http, '[{"variable":"n","value":-1e400}]', H);
    expect(negInf.status).toBe(400);
    const time = await post(stack.http, '{"variable":"n","value":1,"time":1e400}', H);
    expect(time.status).toBe(400);
    await stillServes(stack);
  });

  it('random bytes and garbage requests on the HTTP port: 400 or closed, the server stays up', async () => {
    const stack = await startStack();
    for (let i = 0; i < 20; i++) {
      const sock = raw(stack.gw.ports.http);
      await once(sock, 'connect');
      sock.write(randomBytes(1 + Math.floor(Math.random() * 65_536)));
      sock.end();
      await closesWithin(sock, 5_000);
    }
    const sock = raw(stack.gw.ports.http);
    await once(sock, 'connect');
    let answer = '';
    sock.setEncoding('utf8').on('data', (d: string) => {
      answer += d;
    });
    sock.write('POST /data HTTP/1.1\r\nhost: x\r\ncontent-length: -5\r\n\r\n');
    await closesWithin(sock, 5_000);
    expect(answer).toMatch(/^HTTP\/1\.1 400/);
    await stillServes(stack);
  });
});

describe('hostile MQTT input', () => {
  it('random bytes, malformed and truncated packets on the MQTT port close that connection only', async () => {
    const stack = await startStack({ mqtt: { maxPacketBytes: 4_096 } });
    const other = await connectMqtt(stack.mqtt, 'mqtt-bystander');
    const packets: Buffer[] = [
      randomBytes(4_096),
      randomBytes(100_000),
      // CONNECT with a bogus protocol name
      Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x58, 0x58, 0x58, 0x58, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00]),
      // PUBLISH before CONNECT
      Buffer.from([0x30, 0x05, 0x00, 0x01, 0x61, 0x68, 0x69]),
      // truncated CONNECT (declares 100 bytes, sends 3)
      Buffer.from([0x10, 0x64, 0x00, 0x04, 0x4d]),
      // oversize: declares 1 MB
      Buffer.from([0x30, 0x80, 0x80, 0x40, 0x00]),
      // reserved packet type 15 and type 0
      Buffer.from([0xf0, 0x00]),
      Buffer.from([0x00, 0x00]),
    ];
    for (const p of packets) {
      const sock = raw(stack.gw.ports.mqtt);
      await once(sock, 'connect');
      sock.write(p);
      // The truncated packet waits for the rest: the connect timeout (10 s) would close it; end it here.
      setTimeout(() => sock.end(), 300);
      await closesWithin(sock, 5_000);
    }
    await other.publishAsync('tago/data/post', JSON.stringify({ variable: 'still', value: 1 }), { qos: 1 });
    await waitFor(() => stack.sim.stats().tokens['mqtt-bystander']?.points === 1);
    expect(other.connected).toBe(true);
    await stillServes(stack);
  });

  it('hostile payloads over MQTT are dead letters with a reason, acknowledged, and the client stays', async () => {
    const stack = await startStack();
    const c = await connectMqtt(stack.mqtt, 'mqtt-hostile');
    const bad = [
      '['.repeat(100_000),
      '{"variable":"n","value":1e400}',
      '{"variable":"p","value":1,"__proto__":{"polluted":"yes"}}',
      Buffer.from([0xff, 0xfe, 0x00]),
    ];
    for (const b of bad) await c.publishAsync('tago/data/post', b, { qos: 1 });
    // Deep JSON on another topic (taken as data without a parser): a dead letter, not a disconnect.
    const deep = `{"variable":"x","metadata":{"a":${'['.repeat(5_000)}${']'.repeat(5_000)}}}`;
    await c.publishAsync('site/deep', deep, { qos: 1 });
    expect(c.connected).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const dead = await stack.gw.store.listDeadLetters();
    expect(dead.length).toBeGreaterThanOrEqual(3);
    for (const d of dead) expect(d.reason).toMatch(/^EDGE_ERR_/);
    await stillServes(stack);
  });

  it('2,000 idle TCP connections (MQTT and HTTP) do not stop service', async () => {
    const stack = await startStack();
    const sockets: Socket[] = [];
    onTestFinished(() => {
      for (const s of sockets) s.destroy();
    });
    const openMany = async (port: number, n: number) => {
      for (let i = 0; i < n; i += 100) {
        const batch = Array.from({ length: Math.min(100, n - i) }, () => {
          const s = netConnect(port, '127.0.0.1');
          s.on('error', () => {});
          sockets.push(s);
          return once(s, 'connect');
        });
        await Promise.all(batch);
      }
    };
    await openMany(stack.gw.ports.mqtt, 1_500);
    await openMany(stack.gw.ports.http, 500);
    expect(sockets.filter((s) => !s.destroyed).length).toBe(2_000);
    const c = await connectMqtt(stack.mqtt, 'idle-bystander');
    await c.publishAsync('tago/data/post', JSON.stringify({ variable: 'ok', value: 1 }), { qos: 1 });
    await waitFor(() => stack.sim.stats().tokens['idle-bystander']?.points === 1);
    await stillServes(stack);
  });
});
