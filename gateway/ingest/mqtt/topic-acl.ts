/**
 * Per-device topic ACL, for publishes and subscriptions alike.
 * - `$`-topics (`$SYS/…`) are always closed to devices.
 * - A device with configured topics (`devices[].topics`), and every device in registry mode, may use
 *   `tago/data/post`, its own namespace `devices/<device id>/#` and `devices/<device name>/#`, and its
 *   configured filters — nothing else.
 * - In passthrough mode a device with no configured topics may publish to any other topic (TagoIO's
 *   broker allows arbitrary topics). It may subscribe to any filter except one that starts with a
 *   wildcard (`#`, `+/…`): such a filter would be a firehose of every other device's traffic.
 * Matching follows MQTT 3.1.1 [MQTT-4.7]: `+` one level, `#` the rest (including the parent level).
 */
import type { Device } from '../../model.js';

export type AuthMode = 'passthrough' | 'registry';

export const DATA_TOPIC = 'tago/data/post';

export function topicMatches(filter: string, topic: string): boolean {
  if (filter === topic) return true;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const part = f[i];
    if (part === '#') return true;
    if (i >= t.length) return false;
    if (part !== '+' && part !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Whether `filter` only ever matches topics that `scope` matches (both may hold wildcards). */
function filterWithin(scope: string, filter: string): boolean {
  const s = scope.split('/');
  const f = filter.split('/');
  for (let i = 0; i < s.length; i++) {
    const sp = s[i];
    if (sp === '#') return true;
    const fp = f[i];
    if (fp === undefined || fp === '#') return false;
    if (sp === '+') continue;
    if (fp === '+' || fp !== sp) return false;
  }
  return f.length === s.length;
}

function scopesOf(device: Device): string[] {
  return [DATA_TOPIC, `devices/${device.id}/#`, `devices/${device.name}/#`, ...(device.topics ?? [])];
}

function open(device: Device, mode: AuthMode): boolean {
  return mode === 'passthrough' && device.topics === undefined;
}

/** May this device publish to `topic`? */
export function topicAllowed(device: Device, topic: string, mode: AuthMode = 'passthrough'): boolean {
  if (topic.startsWith('$')) return false;
  if (open(device, mode)) return true;
  return scopesOf(device).some((scope) => topicMatches(scope, topic));
}

/** May this device subscribe to `filter`? */
export function subscriptionAllowed(device: Device, filter: string, mode: AuthMode = 'passthrough'): boolean {
  if (filter.startsWith('$')) return false;
  if (open(device, mode)) return !filter.startsWith('#') && !filter.startsWith('+');
  return scopesOf(device).some((scope) => filterWithin(scope, filter));
}
