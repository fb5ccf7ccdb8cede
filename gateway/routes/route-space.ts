/**
 * Each route's queue in the one store: a route's points are stored under queue keys of its own. The first
 * TagoIO route (the primary, and the only route when `routes:` is absent) keys them by the bare device
 * token, as the store always has — so a store written before routes existed drains into it unchanged;
 * every other route keys them `\0<route>\0<token>`. A device token never holds a NUL (the device
 * directory refuses one), so no device can write into another route's queue.
 */
import { QUEUE_KEY_SEP as SEP } from '../store/queue-key.js';

export { parseQueueKey } from '../store/queue-key.js';

export interface RouteSpace {
  readonly route: string;
  /** The queue key of a device token in this route. */
  key(token: string): string;
  /** The device token of one of this route's keys. */
  token(key: string): string;
  /** Whether a queue key is this route's. */
  owns(key: string): boolean;
}

export function routeSpace(route: string, primary: boolean): RouteSpace {
  if (primary) {
    return {
      route,
      key: (token) => token,
      token: (key) => key,
      owns: (key) => !key.startsWith(SEP),
    };
  }
  const prefix = `${SEP}${route}${SEP}`;
  return {
    route,
    key: (token) => prefix + token,
    token: (key) => key.slice(prefix.length),
    owns: (key) => key.startsWith(prefix),
  };
}
