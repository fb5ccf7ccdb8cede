/**
 * A request head (request line and header fields, without the final CRLF CRLF) parsed in one pass over its
 * text, and the body framing it declares. Pure functions: what they refuse they throw as BadRequestError.
 */
import { type IncomingHttpHeaders, METHODS } from 'node:http';
import { BadRequestError } from '../../../errors.js';

export interface Head {
  method: string;
  url: string;
  version: '1.0' | '1.1';
  headers: IncomingHttpHeaders;
}

export type Framing = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' };

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/**
 * `METHOD SP request-target SP HTTP/1.x`. The target is origin-form (`/` and visible ASCII), asterisk-form
 * (`*`) or absolute-form (`scheme://authority` then a path or query); never authority-form (CONNECT's) and
 * never a byte Node's llhttp refuses there (controls, DEL, non-ASCII; `"<>{}|` in the authority).
 */
const REQUEST_LINE =
  /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\/[\x21-\x7e]*|\*|[A-Za-z]+:\/\/[A-Za-z0-9\-._~!$&'()*+,;=:@[\]%]*(?:[/?][\x21-\x7e]*)?) HTTP\/1\.([01])$/;
/**
 * The methods llhttp knows (Node refuses any other, lower case included), less CONNECT: its target is a
 * tunnel's authority and what follows its head is tunnelled bytes, not the next request.
 */
const KNOWN_METHODS = new Set(METHODS.filter((m) => m !== 'CONNECT'));
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
  const method = m[1] as string;
  if (!KNOWN_METHODS.has(method)) throw new BadRequestError(`unsupported method "${method}"`);
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
    let trailingTab = false;
    while (to > from && isOws(text.charCodeAt(to - 1))) {
      if (text.charCodeAt(to - 1) === 0x09) trailingTab = true;
      to--;
    }
    const value = text.slice(from, to);
    if (BAD_VALUE.test(value)) throw new BadRequestError('control character in a header value');
    const key = name.toLowerCase();
    // llhttp ends a length or a coding at a tab: refused, rather than read as a value llhttp would not.
    if (trailingTab && (key === 'content-length' || key === 'transfer-encoding'))
      throw new BadRequestError(`tab after the ${name} value`);
    const seen = headers[key];
    if (seen === undefined) headers[key] = value;
    else if (key === 'content-length' || key === 'host') {
      // Two lengths, even equal, or two hosts: refused (RFC 9112 §6.3, §3.2), as llhttp refuses two lengths.
      throw new BadRequestError(`more than one ${name} header`);
    } else if (!FIRST_WINS.has(key)) headers[key] = `${seen}, ${value}`;
    pos = end + 2;
  }
  const version = m[3] === '0' ? '1.0' : '1.1';
  if (version === '1.1' && headers.host === undefined) throw new BadRequestError('HTTP/1.1 request without Host');
  return { method, url: m[2] as string, version, headers };
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
