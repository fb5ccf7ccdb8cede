/**
 * The typed-error base every part of tago-edge throws, and the payload parser's own errors. It lives here
 * because parsers/ sits below gateway/ in the dependency graph (gateway/ imports parsers/, never the
 * reverse): the sandbox throws these without importing the gateway, and gateway/errors.ts — the one
 * catalogue — re-exports them beside the rest.
 *
 * Every error carries what each protocol answers, fixed when it is constructed and never changed after:
 * `statusCode` (HTTP), `mqtt` (the MQTT outcome, see MqttOutcome) and, for transient errors,
 * `retryAfterSeconds` (HTTP `Retry-After`).
 */

/**
 * What the MQTT adapter does with a publish or CONNECT that failed with this error:
 * - `dead-letter`: the publish is kept as a dead letter and acknowledged (PUBACK sent); the connection stays.
 * - `withhold-puback`: QoS 1: the PUBACK waits for room up to `mqtt.fullWaitMs`, then the client is
 *   disconnected (it resends); QoS 0 (nothing to withhold): refused and counted.
 * - `refuse-publish`: QoS 1: disconnect without PUBACK (the device keeps the message and resends);
 *   QoS 0: refused and counted, the connection stays.
 * - `disconnect`: the connection is closed without an acknowledgement.
 * - `connack-4` / `connack-5`: CONNECT answered with CONNACK return code 4 (bad user name or password)
 *   or 5 (not authorized).
 * - `none`: the error never answers an MQTT client (HTTP-only, or start-up).
 */
export type MqttOutcome =
  | 'dead-letter'
  | 'withhold-puback'
  | 'refuse-publish'
  | 'disconnect'
  | 'connack-4'
  | 'connack-5'
  | 'none';

export interface EdgeErrorOptions extends ErrorOptions {
  /** Seconds a client should wait before retrying (HTTP `Retry-After`), when the error is transient. */
  retryAfterSeconds?: number;
  /** The MQTT outcome where it differs from the catalogue's for this code (e.g. CONNACK 5 for a cool-down). */
  mqtt?: MqttOutcome;
}

export abstract class EdgeError extends Error {
  abstract readonly code: string;
  abstract readonly statusCode: number;
  /** What the MQTT adapter answers (see MqttOutcome). */
  abstract readonly mqtt: MqttOutcome;
  readonly retryAfterSeconds: number | undefined;
  constructor(message: string, options?: EdgeErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}

/** One catalogue entry: a class with a stable code, its HTTP status and its MQTT outcome. */
export function defineError(name: string, code: string, statusCode: number, mqtt: MqttOutcome) {
  const cls = class extends EdgeError {
    readonly code = code;
    readonly statusCode = statusCode;
    readonly mqtt: MqttOutcome;
    constructor(message: string, options?: EdgeErrorOptions) {
      super(message, options);
      this.mqtt = options?.mqtt ?? mqtt;
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  return cls;
}

export function isEdgeError(err: unknown): err is EdgeError {
  return err instanceof EdgeError;
}

/** The device's payload parser threw, timed out, ran out of memory or returned a bad result. */
export const ParserError = defineError('ParserError', 'EDGE_ERR_PARSER', 400, 'dead-letter');
/** The parser ran past its CPU time limit. */
export const ParserTimeoutError = defineError('ParserTimeoutError', 'EDGE_ERR_PARSER_TIMEOUT', 400, 'dead-letter');
/** The parser ran past its memory limit. */
export const ParserMemoryError = defineError('ParserMemoryError', 'EDGE_ERR_PARSER_MEMORY', 400, 'dead-letter');
/** The parser file could not be read or compiled. */
export const ParserLoadError = defineError('ParserLoadError', 'EDGE_ERR_PARSER_LOAD', 400, 'dead-letter');

export type ParserError = InstanceType<typeof ParserError>;
export type ParserTimeoutError = InstanceType<typeof ParserTimeoutError>;
export type ParserMemoryError = InstanceType<typeof ParserMemoryError>;
export type ParserLoadError = InstanceType<typeof ParserLoadError>;
