/**
 * Core code emits, metrics listen. Every stage of the data path publishes what happened on a
 * `node:diagnostics_channel` channel; `metrics/` subscribes and updates prom-client. Publishing on a
 * channel nobody listens to costs a boolean check (`hasSubscribers`), so the hot path stays free of
 * metric-library calls and label lookups. Payloads never carry a device token: only the device id.
 */
import { channel, parserEvents } from '../parsers/events.js';

export type { ParserConsoleEvent, ParserRunEvent } from '../parsers/events.js';

export type Protocol = 'http' | 'mqtt';

export interface IngestAcceptedEvent {
  protocol: Protocol;
  deviceId: string;
  points: number;
  /** Milliseconds from the request/publish arriving to the acknowledgement being released. */
  ackMs: number;
}
export interface IngestRejectedEvent {
  protocol: Protocol;
  deviceId?: string;
  /** A stable error code from gateway/errors.ts. */
  code: string;
  points: number;
  /** The ingest stage that refused it (gateway/ingest/pipeline.ts), when the pipeline refused it. */
  stage?: string;
}
export interface ForwardResponseEvent {
  deviceId: string;
  /** HTTP status, or 0 for a network error or timeout. */
  status: number;
  points: number;
  durationMs: number;
}
/** One delivery attempt of a route (gateway/forward/forwarder.ts), whatever its destination. */
export interface RouteDeliveryEvent {
  route: string;
  /** `lagging`: moved to the dead letters undelivered, older than the route's maxLagMs. */
  outcome: 'delivered' | 'retry' | 'rate_limited' | 'dead_letter' | 'lagging';
  points: number;
  durationMs: number;
}
export interface StoreCommitEvent {
  rows: number;
  durationMs: number;
}
export interface StoreDropEvent {
  reason: string;
  points: number;
}
export interface DeadLetterEvent {
  deviceId: string;
  reason: string;
  points: number;
}
export interface MqttClientEvent {
  kind: 'connect' | 'disconnect' | 'refused';
  deviceId?: string;
  reason?: string;
}

export const events = {
  ingestAccepted: channel<IngestAcceptedEvent>('tago-edge:ingest:accepted'),
  ingestRejected: channel<IngestRejectedEvent>('tago-edge:ingest:rejected'),
  forwardResponse: channel<ForwardResponseEvent>('tago-edge:forward:response'),
  routeDelivery: channel<RouteDeliveryEvent>('tago-edge:route:delivery'),
  storeCommit: channel<StoreCommitEvent>('tago-edge:store:commit'),
  storeDrop: channel<StoreDropEvent>('tago-edge:store:drop'),
  deadLetter: channel<DeadLetterEvent>('tago-edge:dead-letter'),
  parserRun: parserEvents.parserRun,
  parserConsole: parserEvents.parserConsole,
  mqttClient: channel<MqttClientEvent>('tago-edge:mqtt:client'),
} as const;
