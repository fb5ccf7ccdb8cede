/**
 * An incremental decoder of a `Transfer-Encoding: chunked` body: fed whatever bytes have arrived, it hands
 * on the chunk data and says how much it consumed and whether the body ended (last chunk and trailer read).
 * Chunk sizes are at most 8 hex digits, followed at once by the line's end or by extensions
 * (`;name[=token|"quoted"]`, RFC 9112 §7.1.1; no whitespace, as llhttp); trailer fields must be well-formed
 * fields (the framing ones refused) and are otherwise ignored (at most 16 KiB of them).
 */
import { BadRequestError } from '../../../errors.js';

const MAX_CHUNK_LINE = 1024;
const MAX_TRAILER_BYTES = 16 * 1024;
/** The size, then extensions `;token[=token|quoted-string]` with no whitespace; at most 8 hex digits. */
const CHUNK_LINE =
  /^([0-9a-fA-F]{1,8})(?:;[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:=(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t\x20-\x7e\x80-\xff])*"))?)*$/;
/** A trailer field: a token, a colon, a value without control characters (HTAB allowed). */
const TRAILER = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[^\x00-\x08\x0a-\x1f\x7f]*$/;
const FRAMING_FIELD = /^(content-length|transfer-encoding)$/i;

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
      // The same limits whether a line arrived whole or in pieces (so that splitting cannot change a verdict).
      const max = this.state === 'size' ? MAX_CHUNK_LINE : MAX_TRAILER_BYTES - this.trailerBytes;
      if (eol < 0 ? buf.length > max + 1 : eol > max) {
        throw new BadRequestError(this.state === 'size' ? 'chunk line too long' : 'malformed trailer');
      }
      if (eol < 0) return { rest: buf, done: false };
      const line = buf.toString('latin1', 0, eol);
      buf = eol + 2 === buf.length ? null : buf.subarray(eol + 2);
      if (this.state === 'size') {
        const size = CHUNK_LINE.exec(line);
        if (!size) throw new BadRequestError('malformed chunk size');
        this.remaining = Number.parseInt(size[1] as string, 16);
        this.state = this.remaining === 0 ? 'trailer' : 'data';
        continue;
      }
      // Trailer fields are read and ignored; an empty line ends the body.
      if (line === '') return { rest: buf, done: true };
      this.trailerBytes += line.length + 2;
      const field = TRAILER.exec(line);
      if (this.trailerBytes > MAX_TRAILER_BYTES || !field) throw new BadRequestError('malformed trailer');
      // A length or a coding in the trailer would reframe a body already read (RFC 9110 §6.5.1).
      if (FRAMING_FIELD.test(field[1] as string)) {
        throw new BadRequestError(`${field[1]} in the trailer`);
      }
    }
  }
}
