import type { IncomingMessage } from 'node:http';
import { InvalidBodyError, PayloadTooLargeError } from '../../errors.js';

/** Reads a request body up to `limit` bytes; refuses early on Content-Length, or as soon as it overflows. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(tooLarge(declared, limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        chunks.length = 0;
        reject(tooLarge(size, limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    });
    req.on('error', (err) => {
      if (done) return;
      done = true;
      reject(new InvalidBodyError(`body could not be read: ${err.message}`));
    });
    req.on('aborted', () => {
      if (done) return;
      done = true;
      reject(new InvalidBodyError('request aborted before the body was complete'));
    });
  });
}

function tooLarge(size: number, limit: number): PayloadTooLargeError {
  return new PayloadTooLargeError(`body is ${size} bytes or more (max ${limit} bytes, TagoIO's 200 kB limit)`);
}
