/**
 * Which tokens the gateway accepts, and the device each one is.
 * - passthrough (default): any non-empty token is accepted and forwarded; a token TagoIO refused
 *   (401/403 on forward) is refused at ingest from then on (remembered by the store across restarts).
 * - registry: only the tokens listed under `devices`.
 * Token comparison goes through a hash map keyed by the token; the map lookup does not leak which
 * prefix matched the way a character-by-character comparison would.
 */
import { createHash } from 'node:crypto';
import type { DeviceConfig } from '../config/schema.js';
import { MissingTokenError, RefusedTokenError } from '../errors.js';
import type { Device } from '../model.js';

export function deviceIdOf(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 24);
}

export class DeviceDirectory {
  private configured = new Map<string, Device>();
  private readonly passthrough = new Map<string, Device>();
  private readonly refused = new Set<string>();

  constructor(
    private mode: 'passthrough' | 'registry',
    devices: readonly DeviceConfig[],
    refused: Iterable<string> = [],
  ) {
    this.setDevices(mode, devices);
    for (const t of refused) this.refused.add(t);
  }

  /** Replaces the configured devices (reload). */
  setDevices(mode: 'passthrough' | 'registry', devices: readonly DeviceConfig[]): void {
    this.mode = mode;
    const next = new Map<string, Device>();
    for (const d of devices) {
      next.set(d.token, {
        id: deviceIdOf(d.token),
        name: d.name,
        token: d.token,
        params: d.params,
        tags: d.tags,
        ...(d.parser !== undefined ? { parser: d.parser } : {}),
        ...(d.topics !== undefined ? { topics: d.topics } : {}),
      });
    }
    this.configured = next;
    this.passthrough.clear();
  }

  /** The device for a token, or a typed error: MissingTokenError / RefusedTokenError. */
  resolve(token: string | undefined | null): Device {
    if (token === undefined || token === null || token === '') {
      throw new MissingTokenError('Authorization Denied: no device token (send Device-Token, Authorization or token)');
    }
    if (this.refused.has(token)) throw new RefusedTokenError('Authorization Denied: TagoIO refused this token');
    const known = this.configured.get(token);
    if (known) return known;
    if (this.mode === 'registry') throw new RefusedTokenError('Authorization Denied: unknown device token');
    let d = this.passthrough.get(token);
    if (!d) {
      // The store keys other routes' queues with NULs (gateway/store/queue-key.ts): no token may hold one
      // (configured tokens are checked by the config schema; passthrough ones once, here, on a cache miss).
      if (token.includes('\u0000')) throw new RefusedTokenError('Authorization Denied: a device token holds no NUL');
      const id = deviceIdOf(token);
      d = { id, name: `device-${id.slice(0, 8)}`, token, params: [], tags: [] };
      // Bound the cache: passthrough devices are cheap to rebuild.
      if (this.passthrough.size > 100_000) this.passthrough.clear();
      this.passthrough.set(token, d);
    }
    return d;
  }

  /** The name a device goes by on a route (a topic, a table row): its configured name, else `device-<id>`. */
  nameOf(token: string): string {
    const known = this.configured.get(token) ?? this.passthrough.get(token);
    return known?.name ?? `device-${deviceIdOf(token).slice(0, 8)}`;
  }

  refuse(token: string): void {
    this.refused.add(token);
  }

  isRefused(token: string): boolean {
    return this.refused.has(token);
  }

  byCertificateCN(cn: string, devices: readonly DeviceConfig[]): Device | undefined {
    const d = devices.find((x) => x.certificateCN === cn);
    return d ? this.configured.get(d.token) : undefined;
  }
}
