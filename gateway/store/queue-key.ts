/**
 * Queue keys: the store queues points per key. A key is a bare device token (the primary route's queue),
 * or `\0<route>\0<token>` for another route's (gateway/routes/route-space.ts makes them). The store reads
 * them only to name a dead letter's device and route.
 */
export const QUEUE_KEY_SEP = '\u0000';

/** The route a queue key names (`null`: a bare token, the primary route's) and the device token in it. */
export function parseQueueKey(key: string): { route: string | null; token: string } {
  if (!key.startsWith(QUEUE_KEY_SEP)) return { route: null, token: key };
  const end = key.indexOf(QUEUE_KEY_SEP, 1);
  return end < 0 ? { route: null, token: key } : { route: key.slice(1, end), token: key.slice(end + 1) };
}
