import { describe, expect, it } from 'vitest';
import { call, get, post, sim } from './sim-fixture.js';

describe('cloud-sim POST /data', () => {
  it('stores records with TagoIO fields and answers "N Data Added"', async () => {
    const s = await sim();
    const res = await post(s.url, 'tok', [
      { variable: 'Temperature', value: 21.5, unit: 'C' },
      { variable: 'humidity', value: 40, time: '2026-01-01T00:00:00Z', group: 'g1', location: { lat: 1, lng: 2 } },
    ]);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: true, result: '2 Data Added' });

    const all = await get(s.url, 'tok', '/data?qty=10&details=true');
    expect(all.status).toBe(200);
    expect(all.body.status).toBe(true);
    const [temp] = all.body.result.filter((r: { variable: string }) => r.variable === 'temperature');
    expect(temp).toMatchObject({ variable: 'temperature', value: 21.5, unit: 'C' });
    expect(temp.id).toMatch(/^[0-9a-f]{24}$/);
    expect(temp.device).toMatch(/^[0-9a-f]{24}$/);
    expect(temp.group).toMatch(/^[0-9a-f]{24}$/);
    expect(Date.parse(temp.time)).not.toBeNaN();
    expect(Date.parse(temp.created_at)).not.toBeNaN();
    const [hum] = all.body.result.filter((r: { variable: string }) => r.variable === 'humidity');
    expect(hum).toMatchObject({ time: '2026-01-01T00:00:00.000Z', group: 'g1', device: temp.device });
    expect(hum.location).toEqual({ type: 'Point', coordinates: [2, 1] });
  });

  it('answers created_at only with details=true, as TagoIO does', async () => {
    const s = await sim();
    await post(s.url, 't', { variable: 'a', value: 1 });
    expect((await get(s.url, 't', '/data')).body.result[0].created_at).toBeUndefined();
    expect((await get(s.url, 't', '/data?details=true')).body.result[0].created_at).toEqual(expect.any(String));
  });

  it('accepts a single object and generates one group per request', async () => {
    const s = await sim();
    expect((await post(s.url, 't', { variable: 'a', value: 1 })).body.result).toBe('1 Data Added');
    await post(s.url, 't', [
      { variable: 'b', value: 1 },
      { variable: 'c', value: 2 },
    ]);
    const res = await get(s.url, 't', '/data?variables[]=b&variables[]=c');
    expect(res.body.result).toHaveLength(2);
    expect(res.body.result[0].group).toBe(res.body.result[1].group);
    const a = await get(s.url, 't', '/data?variable=a');
    expect(a.body.result[0].group).not.toBe(res.body.result[0].group);
  });

  it.each([
    [{ value: 1 }, /record 0: variable is required/],
    [[{ variable: 'ok' }, { variable: 'Temp-1' }], /record 1: variable "Temp-1" contains "-"/],
    [{ variable: 'a b' }, /contains " "/],
    [{ variable: 'x'.repeat(101) }, /101 characters \(max 100\)/],
    [{ variable: 'a', unit: 'u'.repeat(26) }, /unit/],
    [{ variable: 'a', value: { nested: true } }, /value must be/],
    [{ variable: 'a', time: 'yesterday-ish' }, /time "yesterday-ish"/],
    [{ variable: 'a', metadata: 'no' }, /metadata must be an object/],
    ['not json', /Invalid JSON/],
  ])('refuses invalid body %j with 400', async (body, message) => {
    const s = await sim();
    const res = await post(s.url, 't', body);
    expect(res.status).toBe(400);
    expect(res.body.status).toBe(false);
    expect(res.body.message).toMatch(message);
    expect(s.stats().points).toBe(0);
  });

  it('refuses a body over 200 kB with 413', async () => {
    const s = await sim();
    const big = Array.from({ length: 3000 }, (_, i) => ({ variable: 'v', value: `${i}`.padEnd(60, 'x') }));
    expect(JSON.stringify(big).length).toBeGreaterThan(204_800);
    const res = await post(s.url, 't', big);
    expect(res.status).toBe(413);
    expect(res.body.status).toBe(false);
  });

  it('takes the token from Device-Token, Authorization or token, any case', async () => {
    const s = await sim({ tokens: ['good'] });
    for (const header of ['Device-Token', 'Authorization', 'token', 'DEVICE-TOKEN']) {
      const { call } = await import('./sim-fixture.js');
      const res = await call(s.url, 'POST', '/data', {
        body: { variable: 'a', value: 1 },
        headers: { [header]: 'good' },
      });
      expect(res.status, header).toBe(200);
    }
    expect(s.stats().tokens.good).toEqual({ requests: 4, points: 4 });
  });
});

describe('cloud-sim GET /data query forms', () => {
  async function seeded() {
    const s = await sim();
    const base = Date.parse('2026-03-01T00:00:00Z');
    const records = ['a', 'b', 'c'].flatMap((variable, v) =>
      Array.from({ length: 5 }, (_, i) => ({
        variable,
        value: v * 10 + i,
        time: new Date(base + i * 60_000).toISOString(),
        group: i % 2 === 0 ? 'even' : 'odd',
      })),
    );
    await post(s.url, 't', records);
    return s;
  }
  const vars = (body: { result: Array<{ variable: string }> }) =>
    [...new Set(body.result.map((r) => r.variable))].sort();

  it.each([
    ['/data?variable=a', ['a']],
    ['/data?variables=a', ['a']],
    ['/data?variable=a&variable=b', ['a', 'b']],
    ['/data?variables[]=a&variables[]=c', ['a', 'c']],
    ['/data?variables%5B0%5D=b&variables%5B1%5D=c', ['b', 'c']],
    ['/data?variable[]=A', ['a']],
  ])('%s', async (path, expected) => {
    const s = await seeded();
    const res = await get(s.url, 't', `${path}&qty=100`);
    expect(res.status).toBe(200);
    expect(vars(res.body)).toEqual(expected);
  });

  it('qty defaults to 15, skip and ordination page through by time', async () => {
    const s = await seeded();
    await post(
      s.url,
      't',
      Array.from({ length: 20 }, (_, i) => ({ variable: 'z', value: i })),
    );
    expect((await get(s.url, 't', '/data?variable=z')).body.result).toHaveLength(15);
    const desc = await get(s.url, 't', '/data?variable=a&qty=2');
    expect(desc.body.result.map((r: { value: number }) => r.value)).toEqual([4, 3]);
    const asc = await get(s.url, 't', '/data?variable=a&qty=2&skip=1&ordination=ascending');
    expect(asc.body.result.map((r: { value: number }) => r.value)).toEqual([1, 2]);
  });

  it('query=last_value, last_item, first_value, count, min, max', async () => {
    const s = await seeded();
    const one = async (q: string) => (await get(s.url, 't', `/data?variable=b&query=${q}`)).body.result;
    expect((await one('last_value'))[0].value).toBe(14);
    expect((await one('first_value'))[0].value).toBe(10);
    expect((await one('last_item'))[0].value).toBe(14);
    expect(await one('count')).toBe(5);
    expect((await one('min'))[0].value).toBe(10);
    expect((await one('max'))[0].value).toBe(14);
    expect((await get(s.url, 't', '/data?query=count')).body.result).toBe(15);
    expect((await get(s.url, 't', '/data?query=bogus')).status).toBe(400);
  });

  it('filters by groups and start_date/end_date', async () => {
    const s = await seeded();
    const even = await get(s.url, 't', '/data?variable=a&groups[0]=even&qty=100');
    expect(even.body.result.map((r: { value: number }) => r.value)).toEqual([4, 2, 0]);
    const range = await get(
      s.url,
      't',
      '/data?variable=a&start_date=2026-03-01T00:01:00Z&end_date=2026-03-01T00:03:00Z&ordination=ascending',
    );
    expect(range.body.result.map((r: { value: number }) => r.value)).toEqual([1, 2, 3]);
  });

  it('keeps data per token', async () => {
    const s = await seeded();
    expect((await get(s.url, 'other', '/data?query=count')).body.result).toBe(0);
  });

  it('keeps only the last keepRecordsPerToken records but exact counters', async () => {
    const s = await sim({ keepRecordsPerToken: 10 });
    for (let i = 0; i < 5; i++) {
      await post(
        s.url,
        't',
        Array.from({ length: 7 }, (_, j) => ({ variable: 'v', value: i * 7 + j })),
      );
    }
    expect((await get(s.url, 't', '/data?query=count')).body.result).toBe(10);
    expect((await get(s.url, 't', '/data?query=last_item')).body.result[0].value).toBe(34);
    expect(s.stats().points).toBe(35);
  });

  it('builds only the kept records of a request larger than the cap, yet counts every point', async () => {
    const s = await sim({ keepRecordsPerToken: 10 });
    const time = '2026-11-25T10:00:00.000Z';
    await post(
      s.url,
      't',
      Array.from({ length: 25 }, (_, j) => ({
        variable: 'v',
        value: j,
        unit: 'C',
        time,
        metadata: { sim_device: 'd', sim_seq: j },
      })),
    );
    const kept = (await get(s.url, 't', '/data?qty=100&ordination=ascending&details=true')).body.result;
    expect(kept.map((r: { value: number }) => r.value)).toEqual([15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
    expect(new Set(kept.map((r: { id: string }) => r.id)).size).toBe(10);
    for (const r of kept) {
      expect(r).toMatchObject({ variable: 'v', unit: 'C', time, metadata: { sim_device: 'd' } });
      expect(r.id).toMatch(/^[0-9a-f]{24}$/);
      expect(r.group).toMatch(/^[0-9a-f]{24}$/);
      expect(Object.keys(r)).toEqual([
        'id',
        'device',
        'variable',
        'value',
        'unit',
        'metadata',
        'group',
        'time',
        'created_at',
      ]);
    }
    expect(s.stats().points).toBe(25);
    expect((await call(s.url, 'GET', '/_sim/received')).body).toEqual({ d: Array.from({ length: 25 }, (_, j) => j) });
  });
});

describe('cloud-sim GET /info', () => {
  it('answers the device object', async () => {
    const s = await sim();
    const res = await get(s.url, 'tok', '/info');
    expect(res.status).toBe(200);
    expect(res.body.status).toBe(true);
    expect(res.body.result).toMatchObject({ type: 'immutable' });
    expect(res.body.result.id).toMatch(/^[0-9a-f]{24}$/);
    expect(typeof res.body.result.name).toBe('string');
  });
});
