import { describe, expect, it } from 'vitest';
import { fleetOptionsFromFlags } from '../../cli/commands/simulate.js';
import { UsageError } from '../../cli/usage-error.js';
import { AckRanges } from '../../simulators/fleet/ack-ranges.js';
import { FleetOptionsError, parseTokens, resolveOptions, seededToken } from '../../simulators/fleet/index.js';
import { profileFor } from '../../simulators/fleet/profiles/index.js';
import { parseDurationMs, parseRatePerSec } from '../../simulators/fleet/units.js';
import { shards } from '../../simulators/fleet/workers.js';

describe('tokens', () => {
  it('derives 36-char uuid-like tokens deterministically from the seed', () => {
    const t = seededToken(42, 7);
    expect(t).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(seededToken(42, 7)).toBe(t);
    expect(seededToken(42, 8)).not.toBe(t);
    expect(seededToken(43, 7)).not.toBe(t);
  });
  it('reads one per line or a JSON array', () => {
    expect(parseTokens('a\n\n# comment\nb\r\n')).toEqual(['a', 'b']);
    expect(parseTokens('["x","y"]')).toEqual(['x', 'y']);
    expect(() => parseTokens('[1]')).toThrow();
  });
});

describe('ack ranges', () => {
  it('keeps sorted disjoint inclusive ranges whatever the ack order', () => {
    const r = new AckRanges();
    for (const s of [0, 1, 2, 5, 4, 9, 3, 7, 8, 8, 12]) r.add(s);
    expect(r.ranges).toEqual([
      [0, 5],
      [7, 9],
      [12, 12],
    ]);
    r.add(6);
    r.add(11);
    expect(r.ranges).toEqual([
      [0, 9],
      [11, 12],
    ]);
    expect(r.size).toBe(12);
  });
});

describe('profiles', () => {
  it('env rotates temperature, humidity, pressure with units and sim metadata', () => {
    const p = profileFor('env', 0, 1);
    const vs = [0, 1, 2].map((i) => p.next({ sim_device: 'd', sim_seq: i }));
    expect(vs.map((v) => (v.type === 'json' ? (v.value as { variable: string }).variable : ''))).toEqual([
      'temperature',
      'humidity',
      'pressure',
    ]);
    expect(vs[0]).toMatchObject({ type: 'json', value: { unit: '°C', metadata: { sim_device: 'd', sim_seq: 0 } } });
  });
  it('hex frames follow the parser layout', () => {
    const p = profileFor('hex', 0, 1);
    const v = p.next({ sim_device: 'd', sim_seq: 0 });
    if (v.type !== 'frame') throw new Error('expected a frame');
    expect(v.bytes).toHaveLength(5);
    expect(v.bytes.readUInt16BE(0)).toBeGreaterThan(2800);
    expect(v.bytes.readInt16BE(2) / 10).toBeGreaterThan(-20);
    expect(v.bytes.readUInt8(4)).toBeLessThanOrEqual(100);
  });
  it('mixed assigns env, tracker, hex round-robin', () => {
    expect([0, 1, 2, 3].map((i) => profileFor('mixed', i, 1).name)).toEqual(['env', 'tracker', 'hex', 'env']);
  });
});

describe('options', () => {
  it('derives the per-device period from the fleet rate, points/day and speedup', () => {
    const base = { protocol: 'http' as const, targetHttp: 'http://x' };
    expect(resolveOptions({ ...base, devices: 10, ratePerSec: 20 }).periodMs).toBe(500);
    const sizing = resolveOptions({ ...base, devices: 500, pointsPerDay: 100_000, speedup: 60 });
    expect(sizing.ratePerSec).toBeCloseTo((100_000 / 86_400) * 60);
    expect(sizing.periodMs).toBeCloseTo(86_400_000 / 200 / 60);
  });
  it('refuses bad options naming them', () => {
    expect(() => resolveOptions({ protocol: 'mqtt' })).toThrow(/targetMqtt: required/);
    expect(() => resolveOptions({ protocol: 'mqtt', targetMqtt: 'http://x' })).toThrow(FleetOptionsError);
    expect(() => resolveOptions({ protocol: 'http', targetHttp: 'http://x', badRatio: 2 })).toThrow(/badRatio/);
    expect(() => resolveOptions({ protocol: 'http', targetHttp: 'http://x', devices: 0 })).toThrow(/devices/);
  });
  it('maps CLI flags, presets and units; usage errors name the flag', () => {
    const o = fleetOptionsFromFlags({
      targetMqtt: 'mqtts://h:8883',
      preset: 'sizing',
      duration: '5m',
      connectRate: '250/s',
      reconnectStormAt: '30s',
      qos: '0',
      progress: true,
    });
    expect(o).toMatchObject({
      protocol: 'mqtts',
      devices: 500,
      pointsPerDay: 100_000,
      durationMs: 300_000,
      connectRatePerSec: 250,
      reconnectStormAtMs: 30_000,
      qos: 0,
    });
    expect(() => fleetOptionsFromFlags({ progress: true })).toThrow(UsageError);
    expect(() => fleetOptionsFromFlags({ targetHttp: 'http://x', duration: '5 minutes', progress: true })).toThrow(
      /--duration/,
    );
    expect(() => fleetOptionsFromFlags({ targetHttp: 'http://x', devices: 'many', progress: true })).toThrow(
      /--devices/,
    );
    expect(parseDurationMs('500ms')).toBe(500);
    expect(parseDurationMs('2')).toBe(2000);
    expect(parseRatePerSec('600/m')).toBe(10);
  });
  it('shards devices evenly over workers', () => {
    expect(shards(10, 3)).toEqual([
      { first: 0, count: 4 },
      { first: 4, count: 3 },
      { first: 7, count: 3 },
    ]);
    expect(shards(1, 2)).toEqual([{ first: 0, count: 1 }]);
  });
});
