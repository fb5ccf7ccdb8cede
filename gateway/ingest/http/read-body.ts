import type { IncomingMessage } from 'node:http';
import { type EdgeError, InvalidBodyError, PayloadTooLargeError } from '../../errors.js';

/**
 * Reads a request body up to `limit` bytes and calls `done` once: with the body, or with the error (refused
 * early on Content-Length, as soon as it overflows, or when the request fails or is aborted). A callback, not a
 * promise: this is on every request's path.
 */
export function readBody(
  req: IncomingMessage,
  limit: number,
  done: (err: EdgeError | null, body: Buffer | null) => void,
): void {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    done(tooLarge(declared, limit), null);
    return;
  }
  let first: Buffer | null = null;
  let chunks: Buffer[] | null = null;
  let size = 0;
  let finished = false;
  req.on('data', (chunk: Buffer) => {
    if (finished) return;
    size += chunk.length;
    if (size > limit) {
      finished = true;
      first = null;
      chunks = null;
      done(tooLarge(size, limit), null);
      return;
    }
    if (first === null) first = chunk;
    else if (chunks === null) chunks = [first, chunk];
    else chunks.push(chunk);
  });
  req.on('end', () => {
    if (finished) return;
    finished = true;
    done(null, chunks !== null ? Buffer.concat(chunks, size) : (first ?? Buffer.alloc(0)));
  });
  // An aborted request is destroyed with an ECONNRESET 'aborted' error (Node ≥ 16), so 'error' covers it.
  req.on('error', (err: NodeJS.ErrnoException) => {
    if (finished) return;
    finished = true;
    done(
      new InvalidBodyError(
        err.code === 'ECONNRESET'
          ? 'request aborted before the body was complete'
          : `body could not be read: ${err.message}`,
      ),
      null,
    );
  });
}

export function tooLarge(size: number, limit: number): PayloadTooLargeError {
  return new PayloadTooLargeError(`body is ${size} bytes or more (max ${limit} bytes, TagoIO's 200 kB limit)`);
}
