/**
 * When to retry a forward request, and how long to wait. Exponential backoff with full jitter
 * (AWS's "full jitter": a random delay in [0, min(max, base·2^attempt)]), never less than what TagoIO
 * asked for with Retry-After — as an HTTP header or, as TagoIO sends it, inside the message text:
 * `Too many requests (Retry-After: 8)`.
 */

export type Outcome = 'delivered' | 'retry' | 'rate_limited' | 'dead_letter' | 'refused_token';

export function classify(status: number): Outcome {
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 429) return 'rate_limited';
  if (status === 401 || status === 403) return 'refused_token';
  if (status === 400 || status === 422) return 'dead_letter';
  // 0 (network error/timeout), 408, 425, 5xx, and anything unexpected (404 from a wrong URL): keep the
  // points and try again later; losing them is never the answer.
  return 'retry';
}

export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(random() * ceiling);
}

/** Seconds from a Retry-After header (seconds or HTTP date) or from TagoIO's message text. */
export function retryAfterSeconds(
  header: string | string[] | undefined,
  body: string,
  now = Date.now(),
): number | undefined {
  const h = Array.isArray(header) ? header[0] : header;
  if (h !== undefined && h.trim() !== '') {
    const n = Number(h);
    if (Number.isFinite(n) && n >= 0) return n;
    const at = Date.parse(h);
    if (Number.isFinite(at)) return Math.max(0, Math.ceil((at - now) / 1000));
  }
  const m = /Retry-After:\s*(\d+(?:\.\d+)?)/i.exec(body);
  return m ? Number(m[1]) : undefined;
}

/** TagoIO's error text from a response body ({status:false,message} or {status:false,result:{message}}). */
export function upstreamMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: unknown; result?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
    if (typeof parsed.result === 'string') return parsed.result;
    const r = parsed.result as { message?: unknown } | undefined;
    if (r && typeof r.message === 'string') return r.message;
  } catch {
    // not JSON
  }
  return body.slice(0, 500);
}
