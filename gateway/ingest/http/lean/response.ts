import { STATUS_CODES } from 'node:http';
import type { LeanResponse } from './types.js';

/** What a response needs of its connection. */
export interface AnswerSink {
  /** The connection closes after this answer (the request says so, its body was not read, the server is closing). */
  readonly closesAfterAnswer: boolean;
  /** `connection: keep-alive` and `keep-alive: timeout=…`, ending the head. */
  readonly keepAliveHeader: string;
  answer(data: string | Buffer, close: boolean): void;
  destroy(): void;
}

let dateSecond = -1;
let dateText = '';
function httpDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateText = new Date(s * 1000).toUTCString();
  }
  return dateText;
}

/** `status` with no body, the connection closed after it: for requests that never reach a handler. */
export function bare(status: number): string {
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`;
}

/** One answer, written as one buffer (status line, headers, date, connection, body). */
export class Response implements LeanResponse {
  headersSent = false;
  private status = 200;
  private headers: Record<string, string | number> | undefined;

  constructor(
    private readonly conn: AnswerSink,
    private readonly head: boolean,
  ) {}

  writeHead(status: number, headers?: Record<string, string | number>): this {
    this.status = status;
    this.headers = headers;
    return this;
  }

  end(body: string | Buffer = ''): void {
    if (this.headersSent) return;
    this.headersSent = true;
    let text = `HTTP/1.1 ${this.status} ${STATUS_CODES[this.status] ?? 'Unknown'}\r\n`;
    let length = false;
    let close = false;
    if (this.headers) {
      for (const name in this.headers) {
        const value = this.headers[name];
        const lower = name.toLowerCase();
        if (lower === 'content-length') length = true;
        if (lower === 'connection') {
          close = String(value).toLowerCase() === 'close';
          continue;
        }
        text += `${name}: ${value}\r\n`;
      }
    }
    if (!length) text += `content-length: ${typeof body === 'string' ? Buffer.byteLength(body) : body.length}\r\n`;
    const closing = close || this.conn.closesAfterAnswer;
    text += `date: ${httpDate()}\r\n`;
    text += closing ? 'connection: close\r\n\r\n' : this.conn.keepAliveHeader;
    if (this.head || body.length === 0) this.conn.answer(text, closing);
    else if (typeof body === 'string') this.conn.answer(text + body, closing);
    else this.conn.answer(Buffer.concat([Buffer.from(text, 'latin1'), body]), closing);
  }

  destroy(): void {
    this.headersSent = true;
    this.conn.destroy();
  }
}
