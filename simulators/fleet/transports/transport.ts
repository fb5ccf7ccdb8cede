/**
 * The contract between the fleet and a protocol. A transport takes points when they are due and reports
 * exactly one outcome per point (ack, refusal or error) through `onOutcome`, except for points still queued
 * or in flight when it is closed: the fleet counts those as `unacked`.
 */
import type { Payload } from '../profiles/payload.js';
import type { BadKind } from '../types.js';

export interface SimDevice {
  /** Fleet-wide index (phase and sharding). */
  index: number;
  /** `metadata.sim_device`. */
  id: string;
  token: string;
}

export interface OutPoint {
  device: SimDevice;
  /** `sim_seq` for good JSON points; undefined for hex frames and bad points. */
  seq: number | undefined;
  bad: BadKind | undefined;
  payload: Payload;
  scheduledAt: number;
  /** Set when first handed to a socket; reset on each resend. */
  sentAt: number;
  /** True once sent: a later send is a resend. */
  wasSent: boolean;
}

export type Outcome =
  | { type: 'ack'; at: number }
  /** The target refused the point (HTTP 4xx). */
  | { type: 'refused'; status: number; at: number }
  | { type: 'error'; kind: string };

export interface TransportEvents {
  onOutcome(p: OutPoint, o: Outcome): void;
  /** First time a point is handed to a socket (`resend` after a reconnect). */
  onSend(p: OutPoint, resend: boolean): void;
}

export interface Transport {
  /** Open connections (ramped). Resolves when every device has connected or failed its first attempt. */
  open(signal?: AbortSignal): Promise<void>;
  send(p: OutPoint): void;
  /** Points queued or in flight. */
  outstanding(): number;
  queued(): number;
  connectedCount(): number;
  /** Drop every connection at once and reconnect immediately (MQTT only). */
  storm(): void;
  close(): Promise<void>;
}

/** HTTP hex bodies and MQTT topics/payloads both derive from the payload type. */
export const JSON_TOPIC = 'tago/data/post';
export const uplinkTopic = (deviceId: string): string => `devices/${deviceId}/uplink`;
