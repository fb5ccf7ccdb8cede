import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { startStack, waitFor } from '../helpers/stack.js';

async function post(base: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await request(`${base}/data`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.statusCode, headers: res.headers, body: (await res.body.json()) as Record<string, unknown> };
}

async function cloudData(simUrl: string, token: string, query = 'qty=100&ordination=ascending') {
  const res = await request(`${simUrl}/data?${query}`, { headers: { 'device-token': token } });
  const body = (await res.body.json()) as { result: Array<Record<string, unknown>> };
  return body.result;
}

describe('HTTP ingest (POST /data)', () => {
  it('accepts one record or an array with each token header, and the points reach TagoIO', async () => {
    const { http, sim } = await startStack();
    const a = await post(http, { variable: 'Temperature', value: 21.5, unit: 'C' }, { 'Device-Token': 'tok-a' });
    expect(a).toMatchObject({ status: 200, body: { status: true, result: '1 Data Added' } });
    const b = await post(
      http,
      [
        { variable: 'x', value: 1 },
        { variable: 'y', value: 'on' },
      ],
      { Authorization: 'tok-b' },
    );
    expect(b.body).toEqual({ status: true, result: '2 Data Added' });
    const c = await post(http, [{ variable: 'z', value: true }], { token: 'tok-c' });
    expect(c.body.result).toBe('1 Data Added');

    const got = await waitFor(async () => {
      const r = await cloudData(sim.url, 'tok-a');
      return r.length === 1 ? r : null;
    });
    // Stored lowercase, with unit and value intact, and a time stamped at the gateway.
    expect(got[0]).toMatchObject({ variable: 'temperature', value: 21.5, unit: 'C' });
    expect(Date.parse(String(got[0]?.time))).toBeGreaterThan(Date.now() - 60_000);
    await waitFor(() => sim.stats().tokens['tok-b']?.points === 2 && sim.stats().tokens['tok-c']?.points === 1);
  });

  it('keeps the time the device gave, and stamps arrival time when it gave none', async () => {
    const { http, sim } = await startStack();
    const before = Date.now();
    await post(
      http,
      [
        { variable: 'a', value: 1, time: '2024-01-02T03:04:05.000Z' },
        { variable: 'b', value: 2, time: 1_700_000_000 },
        { variable: 'c', value: 3 },
      ],
      { 'device-token': 't1' },
    );
    const got = await waitFor(async () => {
      const r = await cloudData(sim.url, 't1');
      return r.length === 3 ? r : null;
    });
    const byVar = Object.fromEntries(got.map((r) => [r.variable, r.time]));
    expect(byVar.a).toBe('2024-01-02T03:04:05.000Z');
    expect(byVar.b).toBe(new Date(1_700_000_000_000).toISOString());
    const stamped = Date.parse(String(byVar.c));
    expect(stamped).toBeGreaterThanOrEqual(before - 5);
    expect(stamped).toBeLessThanOrEqual(Date.now());
  });

  it.each([
    [{ value: 1 }, 'record 0: variable is required'],
    [[{ variable: 'ok' }, { variable: 'Temp-1' }], 'record 1: variable "Temp-1" contains "-"'],
    [{ variable: 'a b' }, 'record 0: variable "a b" contains a space'],
    [{ variable: 'a.b' }, 'contains "."'],
    [{ variable: 'a$' }, 'contains "$"'],
    [{ variable: 'x'.repeat(101) }, 'record 0: variable is 101 characters (max 100)'],
    [{ variable: 'v', value: 'x'.repeat(6 * 1024 + 1) }, 'record 0: value is 6145 bytes (max 6144)'],
    [{ variable: 'v', value: { nested: 1 } }, 'record 0: value must be a string, number or boolean, got object'],
    [{ variable: 'v', unit: 'u'.repeat(26) }, 'record 0: unit is 26 characters (max 25)'],
    [{ variable: 'v', group: 'g'.repeat(101) }, 'record 0: group is 101 characters (max 100)'],
    [{ variable: 'v', serie: 's'.repeat(101) }, 'record 0: serie is 101 characters (max 100)'],
    [{ variable: 'v', metadata: { big: 'm'.repeat(10 * 1024) } }, 'record 0: metadata is'],
    [{ variable: 'v', metadata: [1] }, 'record 0: metadata must be an object'],
    [{ variable: 'v', location: { lat: 91, lng: 0 } }, 'record 0: location.lat must be a number from -90 to 90'],
    [{ variable: 'v', location: 'here' }, 'record 0: location must be'],
    [{ variable: 'v', time: 'yesterday-ish' }, 'record 0: time "yesterday-ish" is not an ISO 8601 date'],
    [[1], 'record 0: must be an object, got number'],
    ['{"variable": ', 'body is not valid JSON'],
    ['"just a string"', 'body must be a TagoIO data record or an array of records'],
  ])('refuses %j with 400 and a message naming the record and field', async (body, message) => {
    const { http, sim } = await startStack();
    const res = await post(http, body, { 'device-token': 'tok' });
    expect(res.status).toBe(400);
    expect(res.body.status).toBe(false);
    expect(String(res.body.message)).toContain(message);
    // Nothing of a refused message is stored or forwarded.
    expect(res.status === 400 && sim.stats().points).toBe(0);
  });

  it('accepts the valid edge of every limit', async () => {
    const { http } = await startStack();
    const res = await post(
      http,
      {
        variable: 'x'.repeat(100),
        value: 'v'.repeat(6 * 1024),
        unit: 'u'.repeat(25),
        group: 'g'.repeat(100),
        metadata: { m: 'm'.repeat(10 * 1024 - 10) },
        location: { type: 'Point', coordinates: [-46.6, -23.5] },
      },
      { 'device-token': 'tok' },
    );
    expect(res.status).toBe(200);
  });

  it('answers 401 without a token, 413 over 200 kB, 404/405 elsewhere', async () => {
    const { http } = await startStack();
    const noToken = await post(http, { variable: 'a', value: 1 });
    expect(noToken.status).toBe(401);
    expect(noToken.body).toMatchObject({ status: false });
    expect(String(noToken.body.message)).toMatch(/Authorization Denied/);

    const big = [{ variable: 'a', value: 'x'.repeat(5000) }];
    const huge = JSON.stringify(Array.from({ length: 50 }, () => big[0]));
    const tooLarge = await post(http, huge, { 'device-token': 'tok' });
    expect(tooLarge.status).toBe(413);
    expect(String(tooLarge.body.message)).toContain('max 204800 bytes');

    const get = await request(`${http}/data`, { headers: { 'device-token': 'tok' } });
    expect(get.statusCode).toBe(405);
    await get.body.dump();
    const nf = await request(`${http}/nope`);
    expect(nf.statusCode).toBe(404);
    expect(await nf.body.json()).toMatchObject({ status: false });
  });

  it('hands a text/plain body over as the payload record (no parser configured)', async () => {
    const { http, sim } = await startStack();
    const res = await request(`${http}/data`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'device-token': 'raw' },
      body: 'temperature:23.5,humidity:40',
    });
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toEqual({ status: true, result: '1 Data Added' });
    const bin = await request(`${http}/data`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'device-token': 'raw' },
      body: Buffer.from([0x0c, 0xe4, 0x00, 0xd7, 0x2a]),
    });
    expect(bin.statusCode).toBe(200);
    await bin.body.dump();
    const got = await waitFor(async () => {
      const r = await cloudData(sim.url, 'raw');
      return r.length === 2 ? r : null;
    });
    expect(got.map((r) => r.value)).toEqual(['temperature:23.5,humidity:40', '0ce400d72a']);
    expect(got.every((r) => r.variable === 'payload')).toBe(true);
  });

  it('serves /info, /healthz, /readyz and /metrics', async () => {
    const { http } = await startStack({
      devices: [{ name: 'boiler', token: 'tk-1', tags: [{ key: 'site', value: 'a' }] }],
    });
    const info = await request(`${http}/info`, { headers: { 'device-token': 'tk-1' } });
    expect(info.statusCode).toBe(200);
    const infoBody = (await info.body.json()) as { result: Record<string, unknown> };
    expect(infoBody.result).toMatchObject({ name: 'boiler', tags: [{ key: 'site', value: 'a' }] });
    expect(JSON.stringify(infoBody)).not.toContain('tk-1');

    const h = await request(`${http}/healthz`);
    expect(h.statusCode).toBe(200);
    expect(await h.body.json()).toMatchObject({ status: 'ok' });
    const r = await request(`${http}/readyz`);
    expect(r.statusCode).toBe(200);
    expect(await r.body.json()).toMatchObject({ ready: true, store: { writable: true } });

    await post(http, { variable: 'a', value: 1 }, { 'device-token': 'tk-1' });
    const m = await request(`${http}/metrics`);
    const text = await m.body.text();
    expect(text).toMatch(/tago_edge_points_received_total\{protocol="http"\} [1-9]/);
    expect(text).toContain('tago_edge_store_depth_points');
    expect(text).not.toContain('tk-1');
  });

  it('registry mode refuses unknown tokens with 401', async () => {
    const { http } = await startStack({ auth: { mode: 'registry' }, devices: [{ name: 'd', token: 'known' }] });
    expect((await post(http, { variable: 'a', value: 1 }, { 'device-token': 'unknown' })).status).toBe(401);
    expect((await post(http, { variable: 'a', value: 1 }, { 'device-token': 'known' })).status).toBe(200);
  });
});
