/**
 * A request head (request line and header fields, without the final CRLF CRLF) parsed in one pass over its
 * text, and the body framing it declares. Pure functions: what they refuse they throw as BadRequestError.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { BadRequestError } from '../../../errors.js';

export interface Head {
  method: string;
  url: string;
  version: '1.0' | '1.1';
  headers: IncomingHttpHeaders;
}

export type Framing = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' };

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([^\s\x00-\x1f\x7f]+) HTTP\/1\.([01])$/;
/** Control characters refused in header values, chunk lines and trailers (HTAB allowed). */
export const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
/** Headers Node keeps the first of (and so do we): the ones a second copy would make ambiguous. */
const FIRST_WINS = new Set([
  'authorization',
  'content-type',
  'device-token',
  'token',
  'host',
  'user-agent',
  'proxy-authorization',
]);

/** Parses a request head (without its final CRLF CRLF): one pass over the text, no per-line arrays or regex trims. */
export function parseHead(text: string): Head {
  let eol = text.indexOf('\r\n');
  if (eol < 0) eol = text.length;
  const m = REQUEST_LINE.exec(text.slice(0, eol));
  if (!m) throw new BadRequestError('malformed request line');
  const headers: Record<string, string> = {};
  for (let pos = eol + 2; pos < text.length; ) {
    let end = text.indexOf('\r\n', pos);
    if (end < 0) end = text.length;
    const colon = text.indexOf(':', pos);
    if (colon <= pos || colon > end) throw new BadRequestError('malformed header line');
    const name = text.slice(pos, colon);
    if (!TOKEN.test(name)) throw new BadRequestError('malformed header name');
    // Optional whitespace around the value is spaces and tabs only (RFC 9110 §5.6.3).
    let from = colon + 1;
    while (from < end && isOws(text.charCodeAt(from))) from++;
    let to = end;
    while (to > from && isOws(text.charCodeAt(to - 1))) to--;
    const value = text.slice(from, to);
    if (BAD_VALUE.test(value)) throw new BadRequestError('control character in a header value');
    const key = name.toLowerCase();
    const seen = headers[key];
    if (seen === undefined) headers[key] = value;
    else if (key === 'content-length') {
      if (seen !== value) throw new BadRequestError('conflicting Content-Length headers');
    } else if (!FIRST_WINS.has(key)) headers[key] = `${seen}, ${value}`;
    pos = end + 2;
  }
  return { method: m[1] as string, url: m[2] as string, version: m[3] === '0' ? '1.0' : '1.1', headers };
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** How the body is framed: one Content-Length, or `Transfer-Encoding: chunked` alone (anything else: smuggling). */
export function framingOf(head: Head): Framing {
  const te = head.headers['transfer-encoding'] as string | undefined;
  const cl = head.headers['content-length'] as string | undefined;
  if (te !== undefined) {
    if (cl !== undefined) throw new BadRequestError('both Transfer-Encoding and Content-Length');
    if (head.version === '1.0') throw new BadRequestError('Transfer-Encoding on HTTP/1.0');
    if (te.toLowerCase() !== 'chunked') throw new BadRequestError(`unsupported Transfer-Encoding "${te}"`);
    return { kind: 'chunked' };
  }
  if (cl !== undefined) {
    if (!/^\d{1,15}$/.test(cl)) throw new BadRequestError('malformed Content-Length');
    const length = Number(cl);
    return length === 0 ? { kind: 'none' } : { kind: 'length', length };
  }
  return { kind: 'none' };
}
