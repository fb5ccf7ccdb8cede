/**
 * Which device a downlink message is for: the `device`/`serial` field, else the device a
 * `devices/<name or id>/…` topic names. The queue is kept per target, and a targeted message goes to its
 * device only, whatever else subscribes to the topic. A message that names no device is queued under its
 * topic (`topic:<topic>`) and goes to every subscriber the topic ACL allows. Registry mode refuses a name
 * that is not a configured device (404); passthrough takes it as a device id or name as it stands.
 */

import { DownlinkInvalidError, DownlinkUnknownDeviceError } from '../errors.js';
import type { AuthMode } from '../ingest/mqtt/topic-acl.js';
import type { Device } from '../model.js';

export const TOPIC_TARGET = 'topic:';

/** The device a topic names (`devices/<x>/…`), if any. */
export function deviceInTopic(topic: string): string | undefined {
  if (!topic.startsWith('devices/')) return undefined;
  const x = topic.split('/')[1];
  return x === undefined || x === '' ? undefined : x;
}

export function targetOf(
  topic: string,
  named: string | undefined,
  devices: ReadonlyMap<string, Device>,
  mode: AuthMode,
): string {
  const fromTopic = deviceInTopic(topic);
  const resolve = (name: string, where: string): string => {
    const device = devices.get(name);
    if (device) return device.id;
    if (mode === 'registry') {
      throw new DownlinkUnknownDeviceError(`${where}: "${name}" is not a configured device (auth.mode registry)`);
    }
    return name;
  };
  if (named !== undefined) {
    const target = resolve(named, 'device');
    if (fromTopic !== undefined && (devices.get(fromTopic)?.id ?? fromTopic) !== target) {
      throw new DownlinkInvalidError(`device: "${named}" is not the device the topic names ("${fromTopic}")`);
    }
    return target;
  }
  if (fromTopic !== undefined) return resolve(fromTopic, 'topic');
  return `${TOPIC_TARGET}${topic}`;
}

/** The targets a device's queue is kept under: its id and its name. */
export function targetsOfDevice(device: Device): string[] {
  return device.name === device.id ? [device.id] : [device.id, device.name];
}

/** Whether a message queued under `target` is this device's to receive. */
export function isFor(target: string, device: Device): boolean {
  return target === device.id || target === device.name;
}
