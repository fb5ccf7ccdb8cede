/**
 * What a profile produces, before a transport encodes it:
 * - `json`: a TagoIO record (HTTP `application/json` body; MQTT publish to `tago/data/post`);
 * - `text`: a body sent verbatim as JSON (only for the `invalid-json` bad kind);
 * - `frame`: raw bytes for a device parser (HTTP `text/plain` hex body; MQTT raw bytes to `devices/<id>/uplink`).
 */
import type { BadKind } from '../types.js';

export type Payload =
  | { type: 'json'; value: unknown }
  | { type: 'text'; text: string }
  | { type: 'frame'; bytes: Buffer };

/** Metadata on every JSON point: exact loss and duplicate accounting downstream. */
export interface SimMetadata {
  sim_device: string;
  sim_seq: number;
}

/** One device's generator. Stateful (random walks), deterministic for a given seed. */
export interface DeviceProfile {
  readonly name: 'env' | 'tracker' | 'hex';
  /** True when points carry `metadata.sim_seq` (JSON profiles), so loss can be counted downstream. */
  readonly carriesSeq: boolean;
  /** The bad kinds that make sense for this profile. */
  readonly badKinds: readonly BadKind[];
  next(meta: SimMetadata): Payload;
  bad(kind: BadKind, meta: SimMetadata): Payload;
}
