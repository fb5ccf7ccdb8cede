/**
 * Defaults and validation for `FleetOptions`, done once before anything starts. Errors name the option and
 * the value; the CLI turns them into exit 2.
 */
import type { FleetOptions, ProfileName, Protocol } from './types.js';

/** An invalid option. `code` matches the CLI's usage error so callers may branch on it. */
export class FleetOptionsError extends Error {
  readonly code = 'EDGE_ERR_USAGE';
}

export interface ResolvedOptions {
  protocol: Protocol;
  target: string;
  devices: number;
  /** Fleet points per wall-clock second (rate × speedup). */
  ratePerSec: number;
  /** Per-device wall-clock period. */
  periodMs: number;
  durationMs: number | undefined;
  count: number | undefined;
  jitterMs: number;
  profile: ProfileName;
  badRatio: number;
  seed: number;
  tokens: string[] | undefined;
  qos: 0 | 1;
  keepaliveSec: number;
  connectRatePerSec: number;
  reconnectStormAtMs: number | undefined;
  queueLimit: number;
  httpConnections: number;
  timeoutMs: number;
  drainMs: number;
  insecure: boolean;
  ca: string | Buffer | undefined;
  workers: number;
  progressIntervalMs: number;
  shard: { first: number; count: number };
}

const PROTOCOLS: readonly Protocol[] = ['mqtt', 'mqtts', 'ws', 'wss', 'http', 'https'];
const PROFILES: readonly ProfileName[] = ['env', 'tracker', 'hex', 'mixed'];

function fail(msg: string): never {
  throw new FleetOptionsError(msg);
}

function positive(name: string, v: number | undefined, { int = false, zero = false } = {}): void {
  if (v === undefined) return;
  if (!Number.isFinite(v) || (zero ? v < 0 : v <= 0) || (int && !Number.isInteger(v))) {
    fail(`${name}: expected ${int ? 'an integer' : 'a number'} ${zero ? '>= 0' : '> 0'}, got ${v}`);
  }
}

export function isHttp(p: Protocol): boolean {
  return p === 'http' || p === 'https';
}

export function resolveOptions(o: FleetOptions): ResolvedOptions {
  if (!PROTOCOLS.includes(o.protocol)) fail(`protocol: expected one of ${PROTOCOLS.join(', ')}, got "${o.protocol}"`);
  const target = isHttp(o.protocol) ? o.targetHttp : o.targetMqtt;
  const flag = isHttp(o.protocol) ? 'targetHttp' : 'targetMqtt';
  if (!target) fail(`${flag}: required for protocol ${o.protocol}`);
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    fail(`${flag}: invalid URL "${target}"`);
  }
  if (url.protocol !== `${o.protocol}:`)
    fail(`${flag}: scheme "${url.protocol}" does not match protocol ${o.protocol}`);
  const profile = o.profile ?? 'env';
  if (!PROFILES.includes(profile)) fail(`profile: expected one of ${PROFILES.join(', ')}, got "${profile}"`);
  positive('devices', o.devices, { int: true });
  positive('ratePerSec', o.ratePerSec);
  positive('pointsPerDay', o.pointsPerDay);
  positive('speedup', o.speedup);
  positive('durationMs', o.durationMs);
  positive('count', o.count, { int: true });
  positive('jitterMs', o.jitterMs, { zero: true });
  positive('keepaliveSec', o.keepaliveSec, { int: true });
  positive('connectRatePerSec', o.connectRatePerSec);
  positive('reconnectStormAtMs', o.reconnectStormAtMs, { zero: true });
  positive('queueLimit', o.queueLimit, { int: true });
  positive('httpConnections', o.httpConnections, { int: true });
  positive('timeoutMs', o.timeoutMs);
  positive('drainMs', o.drainMs, { zero: true });
  positive('workers', o.workers, { int: true });
  positive('progressIntervalMs', o.progressIntervalMs);
  if (o.ratePerSec !== undefined && o.pointsPerDay !== undefined)
    fail('ratePerSec and pointsPerDay: give one, not both');
  const badRatio = o.badRatio ?? 0;
  if (!(badRatio >= 0 && badRatio <= 1)) fail(`badRatio: expected 0..1, got ${badRatio}`);
  if (o.qos !== undefined && o.qos !== 0 && o.qos !== 1) fail(`qos: expected 0 or 1, got ${o.qos}`);
  if (o.tokens && o.tokens.length === 0) fail('tokens: the list is empty');
  const devices = o.devices ?? 10;
  const seed = o.seed ?? 1;
  if (!Number.isInteger(seed)) fail(`seed: expected an integer, got ${seed}`);
  const speedup = o.speedup ?? 1;
  const simulatedRate = o.ratePerSec ?? (o.pointsPerDay !== undefined ? o.pointsPerDay / 86_400 : 10);
  const ratePerSec = simulatedRate * speedup;
  const shard = o.shard ?? { first: 0, count: devices };
  if (shard.first < 0 || shard.count < 0 || shard.first + shard.count > devices) {
    fail(`shard: ${shard.first}+${shard.count} outside 0..${devices}`);
  }
  return {
    protocol: o.protocol,
    target,
    devices,
    ratePerSec,
    periodMs: (1000 * devices) / ratePerSec,
    durationMs: o.durationMs,
    count: o.count,
    jitterMs: o.jitterMs ?? 0,
    profile,
    badRatio,
    seed,
    tokens: o.tokens,
    qos: o.qos ?? 1,
    keepaliveSec: o.keepaliveSec ?? 60,
    connectRatePerSec: o.connectRatePerSec ?? 500,
    reconnectStormAtMs: o.reconnectStormAtMs,
    queueLimit: o.queueLimit ?? 1000,
    httpConnections: o.httpConnections ?? 100,
    timeoutMs: o.timeoutMs ?? 30_000,
    drainMs: o.drainMs ?? 10_000,
    insecure: o.insecure ?? false,
    ca: o.ca,
    workers: o.workers ?? 1,
    progressIntervalMs: o.progressIntervalMs ?? 1000,
    shard,
  };
}
