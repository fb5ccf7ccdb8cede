/**
 * The body of `POST /publish`, TagoIO's MQTT relay contract: `{"topic","message","qos","retain"}` (the
 * relay's callers may also send `relay_id`, ignored here), plus an optional `device` or `serial` naming
 * the device the message is for. Every refusal names the field.
 */
import { DownlinkInvalidError, DownlinkTooLargeError } from '../errors.js';

export interface PublishRequest {
  topic: string;
  payload: Buffer;
  qos: 0 | 1;
  retain: boolean;
  device?: string;
}

export interface PublishLimits {
  maxMessageBytes: number;
  /** mqtt.maxTopicLevels: aedes refuses to route a deeper topic. */
  maxTopicLevels: number;
}

export function parsePublishRequest(body: Buffer, limits: PublishLimits): PublishRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new DownlinkInvalidError(`body: not valid JSON (${(err as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new DownlinkInvalidError('body: must be a JSON object {"topic","message","qos","retain"}');
  }
  const b = parsed as Record<string, unknown>;
  const { topic, message } = b;
  if (typeof topic !== 'string' || topic === '') throw new DownlinkInvalidError('topic: required, a non-empty string');
  if (topic.startsWith('$')) throw new DownlinkInvalidError(`topic: "${topic}" starts with "$" (reserved)`);
  if (/[+#\u0000]/.test(topic)) {
    throw new DownlinkInvalidError(`topic: "${topic}" contains a wildcard (+ or #) or NUL; publish to one topic`);
  }
  const levels = topic.split('/').length;
  if (levels > limits.maxTopicLevels) {
    throw new DownlinkInvalidError(`topic: ${levels} levels is over mqtt.maxTopicLevels (${limits.maxTopicLevels})`);
  }
  if (typeof message !== 'string') throw new DownlinkInvalidError('message: required, a string');
  const payload = Buffer.from(message, 'utf8');
  if (payload.length > limits.maxMessageBytes) {
    throw new DownlinkTooLargeError(
      `message: ${payload.length} bytes is over downlink.maxMessageBytes (${limits.maxMessageBytes})`,
    );
  }
  const qos = b.qos ?? 0;
  if (qos !== 0 && qos !== 1) throw new DownlinkInvalidError(`qos: ${JSON.stringify(qos)} is not 0 or 1`);
  const retain = b.retain ?? false;
  if (typeof retain !== 'boolean') throw new DownlinkInvalidError(`retain: ${JSON.stringify(retain)} is not a boolean`);
  const field = b.device !== undefined ? 'device' : 'serial';
  const device = b.device ?? b.serial;
  if (device !== undefined && (typeof device !== 'string' || device === '')) {
    throw new DownlinkInvalidError(`${field}: must be a non-empty string`);
  }
  return { topic, payload, qos, retain, ...(device !== undefined ? { device } : {}) };
}
