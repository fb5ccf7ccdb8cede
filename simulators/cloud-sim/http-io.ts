import type { IncomingMessage, ServerResponse } from 'node:http';

/** Reading bodies and writing TagoIO's JSON envelope. */

export interface Body {
  bytes: Buffer;
  /** True when the body exceeded the limit; its bytes were drained and discarded. */
  tooLarge: boolean;
}

/**
 * Reads the whole body, keeping at most `limit` bytes. An oversized body is drained rather than cut off so
 * the client reads the 413 instead of a connection reset.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Body> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = Number(req.headers['content-length'] ?? 0) > limit;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      if (!tooLarge) chunks.push(chunk);
    });
    req.on('end', () => resolve({ bytes: tooLarge ? Buffer.alloc(0) : Buffer.concat(chunks), tooLarge }));
    req.on('error', reject);
  });
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

export function fail(res: ServerResponse, status: number, message: string, headers?: Record<string, string>): void {
  sendJson(res, status, { status: false, message }, headers);
}

/** The device token, from `Device-Token`, `Authorization` (the raw token: TagoIO takes no `Bearer ` prefix) or `token`. */
export function tokenOf(req: IncomingMessage): string | undefined {
  // Node lower-cases header names, which makes the lookup case-insensitive as TagoIO's is.
  for (const name of ['device-token', 'authorization', 'token']) {
    const v = req.headers[name];
    const raw = (Array.isArray(v) ? v[0] : v)?.trim();
    if (raw) return raw;
  }
  return undefined;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
