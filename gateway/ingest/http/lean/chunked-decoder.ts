/**
 * An incremental decoder of a `Transfer-Encoding: chunked` body: fed whatever bytes have arrived, it hands
 * on the chunk data and says how much it consumed and whether the body ended (last chunk and trailer read).
 * Chunk sizes are at most 8 hex digits; trailer fields are read and ignored (at most 16 KiB of them).
 */
import { BadRequestError } from '../../../errors.js';
import { BAD_VALUE } from './head-parser.js';

const MAX_CHUNK_LINE = 1024;
const MAX_TRAILER_BYTES = 16 * 1024;

export interface ChunkedStep {
  /** What was not consumed (null: everything was). */
  rest: Buffer | null;
  /** The body ended: nothing after `rest` belongs to it. */
  done: boolean;
}

export class ChunkedDecoder {
  private state: 'size' | 'data' | 'crlf' | 'trailer' = 'size';
  private remaining = 0;
  private trailerBytes = 0;

  /**
   * Consumes what it can of `buf`, passing chunk data to `onData`, which returns false to stop at once (the
   * body was refused). Throws BadRequestError on malformed chunking.
   */
  decode(input: Buffer, onData: (data: Buffer) => boolean): ChunkedStep {
    let buf: Buffer | null = input;
    for (;;) {
      if (buf === null) return { rest: null, done: false };
      if (this.state === 'data') {
        const n = Math.min(this.remaining, buf.length);
        const more = onData(n === buf.length ? buf : buf.subarray(0, n));
        this.remaining -= n;
        buf = n === buf.length ? null : buf.subarray(n);
        if (!more) return { rest: buf, done: false };
        if (this.remaining === 0) this.state = 'crlf';
        continue;
      }
      if (this.state === 'crlf') {
        if (buf.length < 2) return { rest: buf, done: false };
        if (buf[0] !== 0x0d || buf[1] !== 0x0a) throw new BadRequestError('chunk not followed by CRLF');
        buf = buf.length === 2 ? null : buf.subarray(2);
        this.state = 'size';
        continue;
      }
      const eol: number = buf.indexOf('\r\n');
      if (eol < 0) {
        if (buf.length > MAX_CHUNK_LINE) throw new BadRequestError('chunk line too long');
        return { rest: buf, done: false };
      }
      const line = buf.toString('latin1', 0, eol);
      buf = eol + 2 === buf.length ? null : buf.subarray(eol + 2);
      if (this.state === 'size') {
        const size = /^([0-9a-fA-F]{1,8})[ \t]*(;.*)?$/.exec(line);
        if (!size || BAD_VALUE.test(line)) throw new BadRequestError('malformed chunk size');
        this.remaining = Number.parseInt(size[1] as string, 16);
        this.state = this.remaining === 0 ? 'trailer' : 'data';
        continue;
      }
      // Trailer fields are read and ignored; an empty line ends the body.
      if (line === '') return { rest: buf, done: true };
      this.trailerBytes += line.length + 2;
      if (this.trailerBytes > MAX_TRAILER_BYTES || BAD_VALUE.test(line)) throw new BadRequestError('malformed trailer');
    }
  }
}
