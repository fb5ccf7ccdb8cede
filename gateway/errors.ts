/**
 * The error catalogue: every error the gateway reports to a device, an operator or a script has a stable
 * `code` (callers branch on it, never on the message), the HTTP status it answers, its MQTT outcome
 * (MqttOutcome: dead letter, withheld PUBACK, disconnect, CONNACK code) and, when transient, a
 * `Retry-After` given to its constructor. The adapters read these from the error; none keeps its own
 * list of codes. The base class and the parser's errors come from parsers/errors.ts (the sandbox throws
 * them without importing the gateway). `test/unit/docs-in-step.test.ts` keeps this catalogue and
 * docs/errors.md in step.
 */
import {
  defineError,
  EdgeError,
  ParserError,
  ParserLoadError,
  ParserMemoryError,
  ParserTimeoutError,
} from '../parsers/errors.js';

export type { EdgeErrorOptions, MqttOutcome } from '../parsers/errors.js';
export {
  EdgeError,
  isEdgeError,
  ParserError,
  ParserLoadError,
  ParserMemoryError,
  ParserTimeoutError,
} from '../parsers/errors.js';

/** A request body or MQTT payload that is not valid JSON or not the shape TagoIO accepts. */
export const InvalidBodyError = defineError('InvalidBodyError', 'EDGE_ERR_INVALID_BODY', 400, 'dead-letter');
/** A record breaks one of TagoIO's record rules; the message names the record index and the field. */
export const InvalidRecordError = defineError('InvalidRecordError', 'EDGE_ERR_INVALID_RECORD', 400, 'dead-letter');
/** The HTTP request itself is malformed or ambiguous (request line, headers, body framing). */
export const BadRequestError = defineError('BadRequestError', 'EDGE_ERR_BAD_REQUEST', 400, 'none');
/** The HTTP request's head or body did not arrive within its time limit (slowloris). */
export const RequestTimeoutError = defineError('RequestTimeoutError', 'EDGE_ERR_REQUEST_TIMEOUT', 408, 'none');
/** The HTTP request asks for an expectation other than 100-continue. */
export const ExpectationFailedError = defineError('ExpectationFailedError', 'EDGE_ERR_EXPECTATION_FAILED', 417, 'none');
/** The HTTP request's head is over 16 KiB. */
export const HeadersTooLargeError = defineError('HeadersTooLargeError', 'EDGE_ERR_HEADERS_TOO_LARGE', 431, 'none');
/** No device token was given. */
export const MissingTokenError = defineError('MissingTokenError', 'EDGE_ERR_MISSING_TOKEN', 401, 'connack-4');
/** The token is not known (registry mode) or TagoIO refused it. */
export const RefusedTokenError = defineError('RefusedTokenError', 'EDGE_ERR_REFUSED_TOKEN', 401, 'connack-5');
/** The client's address is not allowed. */
export const ForbiddenAddressError = defineError(
  'ForbiddenAddressError',
  'EDGE_ERR_FORBIDDEN_ADDRESS',
  403,
  'disconnect',
);
/** The MQTT topic is not one this device may publish or subscribe to. */
export const TopicNotAllowedError = defineError(
  'TopicNotAllowedError',
  'EDGE_ERR_TOPIC_NOT_ALLOWED',
  403,
  'disconnect',
);
/** No such route. */
export const NotFoundError = defineError('NotFoundError', 'EDGE_ERR_NOT_FOUND', 404, 'none');
/** The route exists but not for this method. */
export const MethodNotAllowedError = defineError('MethodNotAllowedError', 'EDGE_ERR_METHOD_NOT_ALLOWED', 405, 'none');
/** The body is over the 200 kB limit. */
export const PayloadTooLargeError = defineError(
  'PayloadTooLargeError',
  'EDGE_ERR_PAYLOAD_TOO_LARGE',
  413,
  'disconnect',
);
/** The content type is not JSON, text or octet-stream. */
export const UnsupportedMediaTypeError = defineError(
  'UnsupportedMediaTypeError',
  'EDGE_ERR_UNSUPPORTED_MEDIA_TYPE',
  415,
  'none',
);
/** The device sends faster than its rate limit. */
export const RateLimitedError = defineError('RateLimitedError', 'EDGE_ERR_RATE_LIMITED', 429, 'refuse-publish');
/** The local store reached `store.maxBytes`; the client should retry later. */
export const StoreFullError = defineError('StoreFullError', 'EDGE_ERR_STORE_FULL', 503, 'withhold-puback');
/** The replicated store cannot take writes now (JetStream lost its quorum or did not answer); nothing was acknowledged. */
export const StoreUnavailableError = defineError(
  'StoreUnavailableError',
  'EDGE_ERR_STORE_UNAVAILABLE',
  503,
  'withhold-puback',
);
/** The gateway is shutting down and accepts nothing new. */
export const ShuttingDownError = defineError('ShuttingDownError', 'EDGE_ERR_SHUTTING_DOWN', 503, 'disconnect');
/** The store failed to write (disk error); nothing was acknowledged. */
export const StoreWriteError = defineError('StoreWriteError', 'EDGE_ERR_STORE_WRITE', 500, 'disconnect');
/** The store could not be opened or decrypted at start-up (e.g. a wrong encryption key). */
export const StoreOpenError = defineError('StoreOpenError', 'EDGE_ERR_STORE_OPEN', 500, 'none');
/** A configuration file or override is invalid; the message names the config path. */
export const ConfigError = defineError('ConfigError', 'EDGE_ERR_CONFIG', 500, 'none');
/** Downlink: a `POST /publish` body that is not JSON or has a bad field; the message names the field. */
export const DownlinkInvalidError = defineError('DownlinkInvalidError', 'EDGE_ERR_DOWNLINK_INVALID', 400, 'none');
/** Downlink: no secret, or not the configured `downlink.secret`. */
export const DownlinkUnauthorizedError = defineError(
  'DownlinkUnauthorizedError',
  'EDGE_ERR_DOWNLINK_UNAUTHORIZED',
  401,
  'none',
);
/** Downlink, registry mode: the topic or the `device`/`serial` field names a device the gateway does not know. */
export const DownlinkUnknownDeviceError = defineError(
  'DownlinkUnknownDeviceError',
  'EDGE_ERR_DOWNLINK_UNKNOWN_DEVICE',
  404,
  'none',
);
/** Downlink: `GET /downlink/{id}` for an id the gateway never issued (or one pruned after `downlink.keepFinishedMs`). */
export const DownlinkNotFoundError = defineError('DownlinkNotFoundError', 'EDGE_ERR_DOWNLINK_NOT_FOUND', 404, 'none');
/** Downlink: the message (or the whole body) is over `downlink.maxMessageBytes`. */
export const DownlinkTooLargeError = defineError('DownlinkTooLargeError', 'EDGE_ERR_DOWNLINK_TOO_LARGE', 413, 'none');
/** Downlink: `downlink.maxQueued` messages are waiting already; post again after `Retry-After`. */
export const DownlinkQueueFullError = defineError(
  'DownlinkQueueFullError',
  'EDGE_ERR_DOWNLINK_QUEUE_FULL',
  503,
  'none',
);
/** Downlink: `GET /data` for other variables than the downlink's could not be read from TagoIO (network, timeout). */
export const DownlinkUpstreamError = defineError('DownlinkUpstreamError', 'EDGE_ERR_DOWNLINK_UPSTREAM', 502, 'none');
/** Anything unexpected: a bug. The message is logged; the client sees a generic message. */
export const InternalError = defineError('InternalError', 'EDGE_ERR_INTERNAL', 500, 'disconnect');

export type InvalidBodyError = InstanceType<typeof InvalidBodyError>;
export type InvalidRecordError = InstanceType<typeof InvalidRecordError>;
export type BadRequestError = InstanceType<typeof BadRequestError>;
export type RequestTimeoutError = InstanceType<typeof RequestTimeoutError>;
export type ExpectationFailedError = InstanceType<typeof ExpectationFailedError>;
export type HeadersTooLargeError = InstanceType<typeof HeadersTooLargeError>;
export type MissingTokenError = InstanceType<typeof MissingTokenError>;
export type RefusedTokenError = InstanceType<typeof RefusedTokenError>;
export type ForbiddenAddressError = InstanceType<typeof ForbiddenAddressError>;
export type TopicNotAllowedError = InstanceType<typeof TopicNotAllowedError>;
export type NotFoundError = InstanceType<typeof NotFoundError>;
export type MethodNotAllowedError = InstanceType<typeof MethodNotAllowedError>;
export type PayloadTooLargeError = InstanceType<typeof PayloadTooLargeError>;
export type UnsupportedMediaTypeError = InstanceType<typeof UnsupportedMediaTypeError>;
export type RateLimitedError = InstanceType<typeof RateLimitedError>;
export type StoreFullError = InstanceType<typeof StoreFullError>;
export type StoreUnavailableError = InstanceType<typeof StoreUnavailableError>;
export type ShuttingDownError = InstanceType<typeof ShuttingDownError>;
export type StoreWriteError = InstanceType<typeof StoreWriteError>;
export type StoreOpenError = InstanceType<typeof StoreOpenError>;
export type ConfigError = InstanceType<typeof ConfigError>;
export type InternalError = InstanceType<typeof InternalError>;
export type DownlinkInvalidError = InstanceType<typeof DownlinkInvalidError>;
export type DownlinkUnauthorizedError = InstanceType<typeof DownlinkUnauthorizedError>;
export type DownlinkUnknownDeviceError = InstanceType<typeof DownlinkUnknownDeviceError>;
export type DownlinkNotFoundError = InstanceType<typeof DownlinkNotFoundError>;
export type DownlinkTooLargeError = InstanceType<typeof DownlinkTooLargeError>;
export type DownlinkQueueFullError = InstanceType<typeof DownlinkQueueFullError>;
export type DownlinkUpstreamError = InstanceType<typeof DownlinkUpstreamError>;

export const errorCatalogue = [
  InvalidBodyError,
  InvalidRecordError,
  ParserError,
  ParserTimeoutError,
  ParserMemoryError,
  ParserLoadError,
  BadRequestError,
  RequestTimeoutError,
  ExpectationFailedError,
  HeadersTooLargeError,
  MissingTokenError,
  RefusedTokenError,
  ForbiddenAddressError,
  TopicNotAllowedError,
  NotFoundError,
  MethodNotAllowedError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  RateLimitedError,
  StoreFullError,
  StoreUnavailableError,
  ShuttingDownError,
  StoreWriteError,
  StoreOpenError,
  ConfigError,
  DownlinkInvalidError,
  DownlinkUnauthorizedError,
  DownlinkUnknownDeviceError,
  DownlinkNotFoundError,
  DownlinkTooLargeError,
  DownlinkQueueFullError,
  DownlinkUpstreamError,
  InternalError,
] as const;

/** Wraps anything thrown into an EdgeError, keeping EdgeErrors as they are. */
export function toEdgeError(err: unknown): EdgeError {
  if (err instanceof EdgeError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new InternalError(message, { cause: err });
}
