/**
 * Admission: the checks that run before a message enters the data path, in this order —
 *   address lists (403 / connection closed) → auth-failure cool-down (429 / CONNACK 5)
 *   → per-device upload rate (429 + Retry-After / publish refused)
 * Each hook throws an EdgeError (ForbiddenAddressError 403, RateLimitedError 429 with
 * retryAfterSeconds) to refuse. Invariants: admission never sees or logs a token (devices are named by
 * id); its maps are bounded (window-counter.ts); a reload replaces the limits and keeps the counts.
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Client } from 'aedes';
import type { Config } from '../config/schema.js';
import { ForbiddenAddressError, RateLimitedError } from '../errors.js';
import type { Protocol } from '../events.js';
import type { Logger } from '../log.js';
import type { Device } from '../model.js';
import { AddressLists, normalizeAddress } from './address-list.js';
import { WindowCounter } from './window-counter.js';

/** What admission reads of an HTTP request (node:http's or the lean server's). */
export interface AdmissionRequest {
  readonly method?: string | undefined;
  readonly socket: { readonly remoteAddress?: string | undefined };
}

export interface Admission {
  /**
   * HTTP: before a request is processed. With `device` null (before the token is looked at, and for
   * routes without a device): address lists and auth cool-down. With a device: the upload rate too
   * (POST only).
   */
  http(req: AdmissionRequest, device: Device | null): void;
  /** HTTP: an upload (POST /data) of an authenticated device: its upload rate alone. */
  httpUpload(device: Device): void;
  /** HTTP: the token was missing or refused (for the per-address cool-down). */
  httpAuthFailure(req: AdmissionRequest): void;
  /** MQTT: before CONNECT is authenticated. */
  mqttConnect(client: Client): void;
  /** MQTT: an authentication failure from this client's address. */
  mqttAuthFailure(client: Client): void;
  /** MQTT: before each publish of an authenticated device. */
  mqttPublish(client: Client, device: Device): void;
  /** Applies new limits (reload). */
  update(config: Config): void;
}

/**
 * A device refused this many publishes in one window is a persistent offender: its connection is
 * closed (QoS 1 publishes over the limit close it at once, see broker.ts; this catches QoS 0 floods).
 */
export const PERSISTENT_OFFENDER_REFUSALS = 10;

/**
 * The socket under an MQTT client: the TCP/TLS socket itself, or for WS/WSS the socket of the HTTP
 * upgrade request (aedes keeps it as `client.req`; `client.conn` is then a WebSocket stream).
 */
export function peerSocket(client: Client): Partial<TLSSocket> {
  const req = (client as { req?: IncomingMessage }).req;
  return (req?.socket ?? client.conn) as Partial<TLSSocket>;
}

/** The peer address of an MQTT client. */
export function mqttAddress(client: Client): string | undefined {
  return peerSocket(client).remoteAddress;
}

export function createAdmission(config: Config, log: Logger, now: () => number = Date.now): Admission {
  let limits = config.limits;
  let lists = new AddressLists(limits.allow, limits.deny);
  const uploads = new WindowCounter();
  const authFailures = new WindowCounter();

  function checkAddress(remote: string | undefined, protocol: Protocol): void {
    if (lists.allows(remote)) return;
    log.info({ protocol, address: remote }, 'connection from an address not allowed; refused');
    throw new ForbiddenAddressError(`address ${remote ? normalizeAddress(remote) : '(unknown)'} is not allowed`);
  }

  function checkCooldown(remote: string | undefined): void {
    // No address has failed yet (the common case): nothing to look up.
    if (limits.authFailuresPerMinute === 0 || !remote || authFailures.size === 0) return;
    const e = authFailures.peek(normalizeAddress(remote));
    const t = now();
    if (e === undefined || e.blockedUntil <= t) return;
    const seconds = Math.max(1, Math.ceil((e.blockedUntil - t) / 1000));
    // At MQTT CONNECT a cool-down answers CONNACK 5 (not authorized), not a refused publish.
    throw new RateLimitedError(`Too many requests (Retry-After: ${seconds})`, {
      retryAfterSeconds: seconds,
      mqtt: 'connack-5',
    });
  }

  function authFailed(remote: string | undefined, protocol: Protocol): void {
    if (limits.authFailuresPerMinute === 0 || !remote) return;
    const address = normalizeAddress(remote);
    const t = now();
    const e = authFailures.entry(address, t);
    e.count++;
    if (e.count >= limits.authFailuresPerMinute && e.blockedUntil <= t) {
      e.blockedUntil = t + limits.authCooldownMs;
      log.warn(
        { protocol, address, failures: e.count, cooldownMs: limits.authCooldownMs },
        'too many authentication failures from this address; cooling down',
      );
    }
  }

  /** Counts one upload; throws RateLimitedError when the device is over `limits.uploadsPerMinute`. */
  function checkRate(device: Device, protocol: Protocol): { refusedInWindow: number } | undefined {
    const max = limits.uploadsPerMinute;
    if (max === 0) return undefined;
    const t = now();
    const e = uploads.entry(device.id, t);
    if (e.count < max) {
      e.count++;
      return undefined;
    }
    e.refused++;
    const seconds = uploads.secondsLeft(e, t);
    const err = new RateLimitedError(`Too many requests (Retry-After: ${seconds})`, { retryAfterSeconds: seconds });
    if (e.refused === 1) {
      log.info({ protocol, device: device.id, limitPerMinute: max }, 'device over its upload rate limit');
    }
    throw Object.assign(err, { refusedInWindow: e.refused });
  }

  return {
    http(req, device) {
      // The peer address is read only when a check needs it (address lists set, or an address failed).
      if (lists.active) checkAddress(req.socket.remoteAddress, 'http');
      if (authFailures.size > 0) checkCooldown(req.socket.remoteAddress);
      if (device !== null && req.method === 'POST') checkRate(device, 'http');
    },
    httpUpload(device) {
      checkRate(device, 'http');
    },
    httpAuthFailure(req) {
      authFailed(req.socket.remoteAddress, 'http');
    },
    mqttConnect(client) {
      const remote = mqttAddress(client);
      checkAddress(remote, 'mqtt');
      checkCooldown(remote);
    },
    mqttAuthFailure(client) {
      authFailed(mqttAddress(client), 'mqtt');
    },
    mqttPublish(client, device) {
      try {
        checkRate(device, 'mqtt');
      } catch (err) {
        const refused = (err as { refusedInWindow?: number }).refusedInWindow ?? 0;
        if (refused >= PERSISTENT_OFFENDER_REFUSALS) {
          log.warn({ device: device.id, refused }, 'persistent rate-limit offender; disconnecting');
          setImmediate(() => client.close());
        }
        throw err;
      }
    },
    update(next) {
      const nextLists = new AddressLists(next.limits.allow, next.limits.deny);
      limits = next.limits;
      lists = nextLists;
    },
  };
}
