/**
 * `downlink.reportStatus`: each message's final outcome (delivered, expired, dead_letter) goes to TagoIO as
 * a `downlink_status` point in its device's bucket, through the gateway's own point store, so it is as
 * durable, paced and retried as any uplink point:
 *   {"variable":"downlink_status","value":"delivered","metadata":{"id","topic","reason","source"},"time"}
 * Only for messages named for a device whose token the gateway knows (a configured device, or one that
 * connected since start); a message for a topic has no bucket to report to.
 */

import type { Logger } from '../log.js';
import type { DataRecord, Device } from '../model.js';
import type { DownlinkMessage } from './downlink-store.js';

export const STATUS_VARIABLE = 'downlink_status';
const MAX_SEEN = 100_000;

export class StatusReport {
  readonly #append: (token: string, records: DataRecord[]) => Promise<void>;
  readonly #log: Logger;
  /** Device id or name → token, for the devices that may be targets. */
  #tokens = new Map<string, string>();
  readonly #seen = new Map<string, string>();

  constructor(append: (token: string, records: DataRecord[]) => Promise<void>, log: Logger) {
    this.#append = append;
    this.#log = log;
  }

  /** The configured devices (start, reload). */
  setDevices(devices: Iterable<Device>): void {
    const next = new Map<string, string>();
    for (const d of devices) {
      next.set(d.id, d.token);
      next.set(d.name, d.token);
    }
    this.#tokens = next;
  }

  /** A device that connected: its outcomes can be reported too (bounded). */
  saw(device: Device): void {
    if (this.#seen.has(device.id)) return;
    if (this.#seen.size >= MAX_SEEN) this.#seen.clear();
    this.#seen.set(device.id, device.token);
    this.#seen.set(device.name, device.token);
  }

  report(msg: DownlinkMessage, status: 'delivered' | 'expired' | 'dead_letter', reason: string, now: number): void {
    const token = this.#tokens.get(msg.target) ?? this.#seen.get(msg.target);
    if (token === undefined) return;
    const record: DataRecord = {
      variable: STATUS_VARIABLE,
      value: status,
      time: new Date(now).toISOString(),
      metadata: { id: msg.id, topic: msg.topic, reason, source: msg.source },
    };
    this.#append(token, [record]).catch((err: Error) => {
      this.#log.warn({ id: msg.id, err: err.message }, 'downlink status not stored for TagoIO');
    });
  }
}
