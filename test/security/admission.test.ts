/**
 * Admission: address allow/deny lists (IPv4, IPv6, IPv4-mapped IPv6), per-device upload rate limits
 * (HTTP 429 + Retry-After; MQTT refusal), per-address auth-failure cool-down, and bounded memory.
 */
import type { IncomingMessage } from 'node:http';
import { connect as netConnect } from 'node:net';
import mqtt from 'mqtt';
import { request } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import { AddressLists, normalizeAddress, parseCidr } from '../../gateway/admission/address-list.js';
import { createAdmission } from '../../gateway/admission/index.js';
import { WindowCounter } from '../../gateway/admission/window-counter.js';
import { parseConfig } from '../../gateway/config/load.js';
import { events, type IngestRejectedEvent } from '../../gateway/events.js';
import { createLogger } from '../../gateway/log.js';
import type { Device } from '../../gateway/model.js';
import { startStack, waitFor } from '../helpers/stack.js';
import { closed, connectMqtt, post } from './fixtures.js';

const rec = (v: number) => ({ variable: 'v', value: v });

describe('address lists', () => {
  it('parses IPv4/IPv6 CIDRs and single addresses, and rejects junk', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ address: '10.0.0.0', prefix: 8, family: 'ipv4' });
    expect(parseCidr('2001:db8::/32')).toEqual({ address: '2001:db8::', prefix: 32, family: 'ipv6' });
    expect(parseCidr('192.168.1.7')).toEqual({ address: '192.168.1.7', prefix: 32, family: 'ipv4' });
    expect(parseCidr('10.0.0.0/33')).toMatch(/prefix must be 0..32/);
    expect(parseCidr('10.0.0.0/x')).toMatch(/prefix/);
    expect(parseCidr('example.com')).toMatch(/not an IPv4 or IPv6/);
    expect(() => parseConfig({ limits: { deny: ['10.0.0.0/8', 'nope'] } })).toThrow(
      /limits\.deny\.1|limits\.deny\[1\]/,
    );
  });

  it('deny wins, empty allow allows all, IPv4-mapped IPv6 matches IPv4 rules', () => {
    const l = new AddressLists(['10.0.0.0/8', '2001:db8::/32'], ['10.1.0.0/16']);
    expect(l.allows('10.2.3.4')).toBe(true);
    expect(l.allows('::ffff:10.2.3.4')).toBe(true);
    expect(l.allows('10.1.2.3')).toBe(false);
    expect(l.allows('::FFFF:10.1.2.3')).toBe(false);
    expect(l.allows('192.168.0.1')).toBe(false);
    expect(l.allows('2001:db8::1')).toBe(true);
    expect(l.allows('2001:db9::1')).toBe(false);
    expect(l.allows(undefined)).toBe(false);
    const denyOnly = new AddressLists([], ['127.0.0.1', '::1']);
    expect(denyOnly.allows('127.0.0.1')).toBe(false);
    expect(denyOnly.allows('::ffff:127.0.0.1')).toBe(false);
    expect(denyOnly.allows('::1')).toBe(false);
    expect(denyOnly.allows('127.0.0.2')).toBe(true);
    expect(new AddressLists([], []).allows(undefined)).toBe(true);
    expect(normalizeAddress('::ffff:1.2.3.4')).toBe('1.2.3.4');
  });

  it('HTTP: a denied address gets 403 with the TagoIO error shape', async () => {
    const { http } = await startStack({ limits: { deny: ['127.0.0.0/8'] } });
    const r = await post(http, rec(1), { 'device-token': 'tok' });
    expect(r.status).toBe(403);
    expect(r.body).toEqual({ status: false, message: 'address 127.0.0.1 is not allowed' });
    // Also before the token is looked at (no auth oracle for a denied address).
    expect((await post(http, rec(1))).status).toBe(403);
  });

  it('HTTP: an allow list without the address refuses it; with it, accepts', async () => {
    const refused = await startStack({ limits: { allow: ['10.0.0.0/8', '::1/128'] } });
    expect((await post(refused.http, rec(1), { 'device-token': 't' })).status).toBe(403);
    const ok = await startStack({ limits: { allow: ['127.0.0.1/32'] } });
    expect((await post(ok.http, rec(1), { 'device-token': 't' })).status).toBe(200);
  });

  it('HTTP over IPv6 (::1) honours IPv6 rules', async () => {
    const { gw } = await startStack({ http: { host: '::1' }, limits: { deny: ['::1/128'] } });
    const r = await post(`http://[::1]:${gw.ports.http}`, rec(1), { 'device-token': 't' });
    expect(r.status).toBe(403);
    expect(r.body.message).toBe('address ::1 is not allowed');
  });

  it('MQTT: a denied address is refused at CONNECT (connection closed, no session)', async () => {
    const { mqtt: url } = await startStack({ limits: { deny: ['127.0.0.1'] } });
    const client = mqtt.connect(url, { password: 'tok', protocolVersion: 4, reconnectPeriod: 0 });
    onTestFinished(() => client.endAsync(true));
    const outcome = await new Promise<string>((resolve) => {
      client.once('connect', () => resolve('connected'));
      client.once('close', () => resolve('closed'));
    });
    expect(outcome).toBe('closed');
  });
});

describe('rate limits', () => {
  it('HTTP: over uploadsPerMinute answers 429 with Retry-After and the TagoIO message, per device', async () => {
    const { http, sim } = await startStack({ limits: { uploadsPerMinute: 100 } });
    const rejected: IngestRejectedEvent[] = [];
    const unsub = events.ingestRejected.subscribe((e) => rejected.push(e));
    try {
      for (let i = 0; i < 100; i++) expect((await post(http, rec(i), { 'device-token': 'busy' })).status).toBe(200);
      const r = await post(http, rec(101), { 'device-token': 'busy' });
      expect(r.status).toBe(429);
      const retry = Number(r.headers['retry-after']);
      expect(retry).toBeGreaterThanOrEqual(1);
      expect(retry).toBeLessThanOrEqual(60);
      expect(r.body).toEqual({ status: false, message: `Too many requests (Retry-After: ${retry})` });
      // Another device is not affected; GET /info does not count as an upload.
      expect((await post(http, rec(1), { 'device-token': 'calm' })).status).toBe(200);
      const info = await request(`${http}/info`, { headers: { 'device-token': 'busy' } });
      expect(info.statusCode).toBe(200);
      await info.body.dump();
    } finally {
      unsub();
    }
    expect(rejected.some((e) => e.code === 'EDGE_ERR_RATE_LIMITED' && e.protocol === 'http')).toBe(true);
    await waitFor(() => sim.stats().tokens.busy?.points === 100);
  });

  it('MQTT QoS 1 over the limit: not stored, no PUBACK, connection closed (the device resends later)', async () => {
    const { mqtt: url, sim, gw } = await startStack({ limits: { uploadsPerMinute: 5 } });
    const client = await connectMqtt(url, 'mq-busy');
    for (let i = 0; i < 5; i++) await client.publishAsync('tago/data/post', JSON.stringify(rec(i)), { qos: 1 });
    const gone = closed(client);
    client.publish('tago/data/post', JSON.stringify(rec(99)), { qos: 1 });
    await gone;
    await waitFor(() => sim.stats().tokens['mq-busy']?.points === 5);
    await waitFor(() => gw.store.stats().depthPoints === 0);
    await new Promise((r) => setTimeout(r, 200));
    expect(sim.stats().tokens['mq-busy']?.points).toBe(5);
  });

  it('MQTT QoS 0 over the limit: dropped and counted; a persistent offender is disconnected', async () => {
    const { mqtt: url, sim } = await startStack({ limits: { uploadsPerMinute: 5 } });
    const rejected: IngestRejectedEvent[] = [];
    const unsub = events.ingestRejected.subscribe((e) => rejected.push(e));
    try {
      const client = await connectMqtt(url, 'mq-flood');
      const gone = closed(client);
      for (let i = 0; i < 30 && client.connected; i++) {
        await client.publishAsync('tago/data/post', JSON.stringify(rec(i)), { qos: 0 });
      }
      await gone;
      await waitFor(() => sim.stats().tokens['mq-flood']?.points === 5);
      const limited = rejected.filter((e) => e.code === 'EDGE_ERR_RATE_LIMITED' && e.protocol === 'mqtt');
      expect(limited.length).toBeGreaterThanOrEqual(10);
    } finally {
      unsub();
    }
  });

  it('auth failures: after authFailuresPerMinute the address cools down (HTTP 429, MQTT CONNACK refusal)', async () => {
    const { http, mqtt: url } = await startStack({
      auth: { mode: 'registry' },
      devices: [{ name: 'd', token: 'good' }],
      limits: { authFailuresPerMinute: 3, authCooldownMs: 60_000 },
    });
    for (let i = 0; i < 3; i++) expect((await post(http, rec(1), { 'device-token': `bad-${i}` })).status).toBe(401);
    const r = await post(http, rec(1), { 'device-token': 'good' });
    expect(r.status).toBe(429);
    expect(r.body.message).toMatch(/^Too many requests \(Retry-After: \d+\)$/);
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(50);
    // MQTT from the same address: a CONNACK refusal even with the good token.
    await expect(connectMqtt(url, 'good')).rejects.toThrow(/Not authorized/);
  });

  it('auth failures over MQTT cool the address down too (HTTP from that address is refused as well)', async () => {
    const { http, mqtt: url } = await startStack({
      auth: { mode: 'registry' },
      devices: [{ name: 'd', token: 'good' }],
      limits: { authFailuresPerMinute: 2, authCooldownMs: 60_000 },
    });
    await expect(connectMqtt(url, 'bad1')).rejects.toThrow(/Not authorized/);
    await expect(connectMqtt(url, 'bad2')).rejects.toThrow(/Not authorized/);
    await expect(connectMqtt(url, 'good')).rejects.toThrow(/Not authorized/);
    expect((await post(http, rec(1), { 'device-token': 'good' })).status).toBe(429);
  });
});

describe('admission unit', () => {
  const config = (limits: Record<string, unknown>) => parseConfig({ limits });
  const device = (id: string): Device => ({ id, name: id, token: `t-${id}`, params: [], tags: [] });
  const req = (address: string, method = 'POST') =>
    ({ method, socket: { remoteAddress: address } }) as unknown as IncomingMessage;

  it('a new minute window lets the device through again; Retry-After counts down to it', () => {
    let t = 1_000_000;
    const a = createAdmission(config({ uploadsPerMinute: 2 }), createLogger('silent'), () => t);
    a.http(req('10.0.0.1'), device('d'));
    a.http(req('10.0.0.1'), device('d'));
    t += 45_000;
    let err: { retryAfterSeconds?: number; code?: string } = {};
    try {
      a.http(req('10.0.0.1'), device('d'));
    } catch (e) {
      err = e as typeof err;
    }
    expect(err.code).toBe('EDGE_ERR_RATE_LIMITED');
    expect(err.retryAfterSeconds).toBe(15);
    t += 15_000;
    expect(() => a.http(req('10.0.0.1'), device('d'))).not.toThrow();
  });

  it('the auth cool-down ends at authCooldownMs: the address is let through again on both protocols', () => {
    let t = 5_000_000;
    const a = createAdmission(
      config({ authFailuresPerMinute: 2, authCooldownMs: 300 }),
      createLogger('silent'),
      () => t,
    );
    const client = { conn: { remoteAddress: '10.0.0.7' } } as unknown as Parameters<typeof a.mqttConnect>[0];
    a.mqttAuthFailure(client);
    a.mqttAuthFailure(client);
    expect(() => a.mqttConnect(client)).toThrow();
    expect(() => a.http(req('10.0.0.7'), null)).toThrow(/Too many requests/);
    t += 299;
    expect(() => a.mqttConnect(client)).toThrow();
    t += 1;
    expect(() => a.mqttConnect(client)).not.toThrow();
    expect(() => a.http(req('10.0.0.7'), device('d'))).not.toThrow();
  });

  it('reload applies new limits', () => {
    const a = createAdmission(config({}), createLogger('silent'));
    expect(() => a.http(req('10.9.9.9'), null)).not.toThrow();
    a.update(config({ deny: ['10.0.0.0/8'] }));
    expect(() => a.http(req('10.9.9.9'), null)).toThrow(/not allowed/);
  });

  it('window maps are bounded: old entries are swept, and a cap evicts the oldest', () => {
    const w = new WindowCounter(60_000, 1_000, 10_000);
    let t = 0;
    for (let i = 0; i < 5_000; i++) w.entry(`k${i}`, t);
    expect(w.size).toBe(1_000);
    t += 61_000;
    w.entry('fresh', t);
    expect(w.size).toBe(1);
    // A blocked key survives the sweep until its cool-down ends.
    const e = w.entry('blocked', t);
    e.blockedUntil = t + 120_000;
    t += 70_000;
    w.sweep(t);
    expect(w.peek('blocked')).toBeDefined();
    t += 60_000;
    w.sweep(t);
    expect(w.peek('blocked')).toBeUndefined();
  });

  it('10,000 devices and addresses over the limit keep the maps bounded (memory)', () => {
    let t = 0;
    const a = createAdmission(
      config({ uploadsPerMinute: 1, authFailuresPerMinute: 1 }),
      createLogger('silent'),
      () => t,
    );
    for (let i = 0; i < 10_000; i++) {
      a.http(req(`10.0.${i >> 8}.${i & 255}`), device(`d${i}`));
      a.httpAuthFailure(req(`10.1.${i >> 8}.${i & 255}`));
    }
    t += 200_000;
    // After the windows and cool-downs pass, one access sweeps them all.
    a.http(req('10.2.0.1'), device('late'));
    expect(() => a.http(req('10.1.0.1'), null)).not.toThrow();
  });
});

describe('raw sockets from a denied address', () => {
  it('HTTP answers 403 even to a request on a raw socket', async () => {
    const { gw } = await startStack({ limits: { deny: ['127.0.0.1'] } });
    const sock = netConnect(gw.ports.http, '127.0.0.1');
    let data = '';
    sock.setEncoding('utf8').on('data', (d: string) => {
      data += d;
    });
    sock.write('POST /data HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}');
    await waitFor(() => data.includes('\r\n\r\n'));
    expect(data).toMatch(/^HTTP\/1\.1 403/);
    sock.destroy();
  });
});
