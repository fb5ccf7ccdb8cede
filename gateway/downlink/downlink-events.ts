/**
 * What the downlink reports, on `node:diagnostics_channel` channels like gateway/events.ts: core code
 * emits, gateway/metrics/registry.ts listens. No token and no payload in any event.
 */
import { channel } from '../../parsers/events.js';

export interface DownlinkQueuedEvent {
  source: 'push' | 'pull';
  qos: 0 | 1;
}
export interface DownlinkDeliveredEvent {
  /** `mqtt` (PUBACK at QoS 1, written at QoS 0) or `http` (answered to GET /data). */
  via: 'mqtt' | 'http';
  /** From queued to acknowledged by the device. */
  latencyMs: number;
}
export interface DownlinkEndedEvent {
  /** `expired` (downlink.ttlMs passed) or `dead_letter` (reason `overflow`: past downlink.maxQueuedPerDevice). */
  outcome: 'expired' | 'dead_letter';
  reason: string;
}
export interface DownlinkRefusedEvent {
  /** A stable error code from gateway/errors.ts. */
  code: string;
}
export interface DownlinkPullEvent {
  /** `get` (poll) or `delete` (consumed records); HTTP status, 0 for a network error or timeout. */
  method: 'get' | 'delete';
  status: number;
  commands: number;
}

export const downlinkEvents = {
  queued: channel<DownlinkQueuedEvent>('tago-edge:downlink:queued'),
  delivered: channel<DownlinkDeliveredEvent>('tago-edge:downlink:delivered'),
  ended: channel<DownlinkEndedEvent>('tago-edge:downlink:ended'),
  refused: channel<DownlinkRefusedEvent>('tago-edge:downlink:refused'),
  pull: channel<DownlinkPullEvent>('tago-edge:downlink:pull'),
} as const;
