import { type EdgeError, PayloadTooLargeError } from '../../../errors.js';

function tooLarge(size: number, limit: number): PayloadTooLargeError {
  return new PayloadTooLargeError(`body is ${size} bytes or more (max ${limit} bytes, TagoIO's 200 kB limit)`);
}

/** One request's body as it arrives: collected up to the limit, then handed to the reader once. */
export class Body {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Set once: the body, or why there is none. */
  private outcome: { err: EdgeError | null; body: Buffer | null } | null = null;
  private reader: ((err: EdgeError | null, body: Buffer | null) => void) | null = null;
  complete = false;

  constructor(
    private limit: number,
    private readonly declared: number | null,
  ) {
    this.checkDeclared();
  }

  get refused(): boolean {
    return this.outcome !== null && this.outcome.err !== null;
  }

  /** The reader's limit, when lower than the server's. */
  setLimit(limit: number): void {
    if (limit >= this.limit) return;
    this.limit = limit;
    this.checkDeclared();
    if (this.size > limit) this.settle(tooLarge(this.size, limit), null);
  }

  /** A declared Content-Length over the limit is refused before any of the body is read. */
  private checkDeclared(): void {
    if (this.declared !== null && this.declared > this.limit) this.settle(tooLarge(this.declared, this.limit), null);
  }

  add(chunk: Buffer): void {
    if (this.outcome !== null) return;
    this.size += chunk.length;
    if (this.size > this.limit) {
      this.chunks = [];
      this.settle(tooLarge(this.size, this.limit), null);
      return;
    }
    this.chunks.push(chunk);
  }

  end(): void {
    this.complete = true;
    if (this.outcome !== null) return;
    const body = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.size);
    this.chunks = [];
    this.settle(null, body);
  }

  fail(err: EdgeError): void {
    this.settle(err, null);
  }

  read(done: (err: EdgeError | null, body: Buffer | null) => void): void {
    if (this.outcome !== null) {
      const { err, body } = this.outcome;
      done(err, body);
      return;
    }
    this.reader = done;
  }

  private settle(err: EdgeError | null, body: Buffer | null): void {
    if (this.outcome !== null) return;
    this.outcome = { err, body };
    const reader = this.reader;
    this.reader = null;
    reader?.(err, body);
  }
}
