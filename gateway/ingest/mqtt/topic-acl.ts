/**
 * Per-device topic ACL. A device may use `tago/data/post`, its own namespace `devices/<device id>/#`
 * and `tago/<device id>/#`, and the filters configured for it (`devices[].topics`). In passthrough mode a
 * device with no configured topics may use any topic outside `$SYS` (TagoIO's broker allows arbitrary
 * topics). `$SYS` is always closed to devices.
 */
import type { Device } from '../../model.js';

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

export function topicAllowed(device: Device, topic: string): boolean {
  if (topic.startsWith('$')) return false;
  if (!device.topics) return true;
  if (topic === 'tago/data/post') return true;
  if (topicMatches(`devices/${device.id}/#`, topic) || topicMatches(`devices/${device.name}/#`, topic)) return true;
  return device.topics.some((f) => topicMatches(f, topic));
}
