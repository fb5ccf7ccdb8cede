import type { IncomingHttpHeaders } from 'node:http';

/**
 * The device token, from `Device-Token`, `Authorization` (the raw token; a `Bearer ` prefix is tolerated)
 * or `token` (what the official SDK sends). Node lower-cases header names, so any case matches.
 */
export function tokenFromHeaders(headers: IncomingHttpHeaders): string | undefined {
  const pick = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v)?.trim();
  const direct = pick(headers['device-token']) || pick(headers.token);
  if (direct) return direct;
  const auth = pick(headers.authorization);
  if (!auth) return undefined;
  return auth.startsWith('Bearer ') ? auth.slice(7).trim() : auth;
}
