/** The shapes that flow along the data path. */

export type GeoLocation = { lat: number; lng: number } | { type: 'Point'; coordinates: [number, number] };

/** A TagoIO data record as accepted at ingest, after validation and normalisation. */
export interface DataRecord {
  variable: string;
  value?: string | number | boolean;
  unit?: string;
  group?: string;
  /** ISO 8601; stamped with the arrival time at the gateway when the device sent none. */
  time: string;
  location?: GeoLocation;
  metadata?: Record<string, unknown>;
}

/** A device as the gateway knows it. `token` never leaves the process except towards TagoIO. */
export interface Device {
  /** Stable, non-secret id derived from the token (or the configured name): safe for logs and metrics. */
  id: string;
  name: string;
  token: string;
  parser?: string;
  params: Array<{ key: string; value: string }>;
  tags: Array<{ key: string; value: string }>;
  /** Topics (MQTT filters) this device may publish/subscribe to besides tago/data/post. */
  topics?: string[];
}
