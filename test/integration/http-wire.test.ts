/**
 * The ingest port's HTTP/1.1 on the wire (the gateway's own server, gateway/ingest/http/lean/): keep-alive,
 * pipelining, chunked bodies, 100-continue, HTTP/1.0, half-close, and the strict refusals (request smuggling,
 * malformed heads, oversized heads), each against the real gateway over raw sockets.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { rawSocket } from '../helpers/raw-socket.js';
import { startStack, waitFor } from '../helpers/stack.js';

/** Collects what the server writes; `until` resolves once `pred` holds (or rejects after `ms`). */
function reader(sock: Socket) {
  let text = '';
  let closed = false;
  sock.setEncoding('latin1').on('data', (d: string) => {
    text += d;
  });
  sock.on('close', () => {
    closed = true;
  });
  return {
    text: () => text,
    closed: () => closed,
    async until(pred: (t: string) => boolean, ms = 5_000): Promise<string> {
      const deadline = Date.now() + ms;
      while (!pred(text)) {
        if (Date.now() > deadline) throw new Error(`not seen within ${ms} ms; got: ${JSON.stringify(text)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return text;
    },
    async closes(ms = 5_000): Promise<void> {
      const deadline = Date.now() + ms;
      while (!closed) {
        if (Date.now() > deadline) throw new Error(`socket still open after ${ms} ms; got: ${JSON.stringify(text)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

/** A raw connection to `port`, connected, with a reader on what the server writes back. */
async function connected(port: number) {
  const sock = rawSocket(port);
  await once(sock, 'connect');
  return { sock, r: reader(sock) };
}

const statuses = (t: string) => [...t.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

function post(token: string, body: string, extra = ''): string {
  return `POST /data HTTP/1.1\r\nhost: x\r\ndevice-token: ${token}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
}

const rec = (v: number) => JSON.stringify({ variable: 'temperature', value: v });

describe('HTTP/1.1 on the ingest port (lean engine)', () => {
  it('answers pipelined requests in order on one keep-alive connection, chunked bodies included', async () => {
    const stack = await startStack();
    const { sock, r } = await connected(stack.gw.ports.http);
    const chunkedBody = rec(3);
    const chunked =
      'POST /data HTTP/1.1\r\nhost: x\r\ndevice-token: wire-a\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n' +
      `5;ext=1\r\n${chunkedBody.slice(0, 5)}\r\n${(chunkedBody.length - 5).toString(16)}\r\n${chunkedBody.slice(5)}\r\n0\r\nx-trailer: 1\r\n\r\n`;
    sock.write(
      post('wire-a', rec(1)) + post('wire-a', JSON.stringify([rec(2), rec(2)].map((s) => JSON.parse(s)))) + chunked,
    );
    const text = await r.until((t) => statuses(t).length === 3);
    expect(statuses(text)).toEqual([200, 200, 200]);
    expect([...text.matchAll(/"result":"(\d+) Data Added"/g)].map((m) => Number(m[1]))).toEqual([1, 2, 1]);
    expect(text).toMatch(/connection: keep-alive/);
    // Still open: a fourth request on the same connection is answered too.
    sock.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
    await r.until((t) => statuses(t).length === 4);
    expect(r.closed()).toBe(false);
    await waitFor(() => stack.sim.stats().tokens['wire-a']?.points === 4);
  });

  it('reads header names in any case and values without the spaces and tabs around them', async () => {
    const stack = await startStack();
    const { sock, r } = await connected(stack.gw.ports.http);
    const body = rec(5);
    sock.write(
      `POST /data HTTP/1.1\r\nHost:x\r\nDevice-Token: \t wire-ows\t \r\nCONTENT-TYPE:application/json  \r\n` +
        `Content-Length:\t${body.length}\r\n\r\n${body}`,
    );
    const text = await r.until((t) => statuses(t).length === 1);
    expect(statuses(text)).toEqual([200]);
    // The token was read as "wire-ows": its point reached the cloud under that token.
    await waitFor(() => stack.sim.stats().tokens['wire-ows']?.points === 1);
  });

  it('reads a body that arrives a few bytes at a time, and answers 100-continue before it', async () => {
    const stack = await startStack();
    const { sock, r } = await connected(stack.gw.ports.http);
    const body = rec(7);
    sock.write(
      post('wire-b', '', 'expect: 100-continue\r\n').replace('content-length: 0', `content-length: ${body.length}`),
    );
    await r.until((t) => t.startsWith('HTTP/1.1 100 Continue\r\n\r\n'));
    for (let i = 0; i < body.length; i += 4) {
      sock.write(body.slice(i, i + 4));
      await new Promise((res) => setTimeout(res, 5));
    }
    const text = await r.until((t) => statuses(t).length === 2);
    expect(statuses(text)).toEqual([100, 200]);
    await waitFor(() => stack.sim.stats().tokens['wire-b']?.points === 1);
  });

  it('closes after the answer for HTTP/1.0 and Connection: close, keeps HTTP/1.0 keep-alive open', async () => {
    const stack = await startStack();
    const { sock: a, r: ra } = await connected(stack.gw.ports.http);
    a.write('GET /healthz HTTP/1.0\r\n\r\n');
    await ra.closes();
    expect(ra.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*connection: close\r\n/);

    const { sock: b, r: rb } = await connected(stack.gw.ports.http);
    b.write('GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    await rb.closes();
    expect(statuses(rb.text())).toEqual([200]);

    const { sock: c, r: rc } = await connected(stack.gw.ports.http);
    c.write('GET /healthz HTTP/1.0\r\nconnection: keep-alive\r\n\r\n');
    await rc.until((t) => statuses(t).length === 1);
    c.write('GET /healthz HTTP/1.0\r\nconnection: keep-alive\r\n\r\n');
    await rc.until((t) => statuses(t).length === 2);
    expect(rc.closed()).toBe(false);
  });

  it('answers a request whose client half-closed right after sending it, then closes', async () => {
    const stack = await startStack();
    const { sock, r } = await connected(stack.gw.ports.http);
    sock.end(post('wire-c', rec(1)));
    await r.closes();
    expect(statuses(r.text())).toEqual([200]);
    await waitFor(() => stack.sim.stats().tokens['wire-c']?.points === 1);
  });

  it('stops reading a connection whose client does not read its answers (pipelined requests cannot pile up answers)', async () => {
    const stack = await startStack();
    const sock = rawSocket(stack.gw.ports.http);
    await once(sock, 'connect');
    sock.pause(); // never reads: the answers fill the sockets' buffers, then the gateway's
    const one = `GET /healthz HTTP/1.1\r\nhost: x\r\nx-pad: ${'p'.repeat(200)}\r\n\r\n`;
    const burst = one.repeat(Math.ceil((64 * 1024 * 1024) / one.length));
    sock.write(burst);
    // A gateway that went on reading would take every request (the client's buffer empties) and hold the
    // answers in memory; this one stops reading once its answers stop draining, so requests stay queued here.
    // (The gateway before this bound took every byte of the burst in ~2 s.)
    const deadline = Date.now() + 3_000;
    while (sock.writableLength > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(sock.writableLength).toBeGreaterThan(0);
    // The gateway still serves others.
    const res = await request(`${stack.http}/healthz`);
    expect(res.statusCode).toBe(200);
    await res.body.dump();
  });

  it('HEAD gets the headers without the body', async () => {
    const stack = await startStack();
    const { sock, r } = await connected(stack.gw.ports.http);
    sock.write('HEAD /healthz HTTP/1.1\r\nhost: x\r\n\r\nGET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
    const text = await r.until((t) => statuses(t).length === 2 && t.endsWith('}'));
    const [head, get] = text.split(/(?=HTTP\/1\.1 )/);
    expect(head).toMatch(/content-length: \d+\r\n/);
    expect(head?.endsWith('\r\n\r\n')).toBe(true);
    expect(get).toMatch(/"status":"ok"/);
  });

  const codeOf: Record<number, string> = {
    400: 'EDGE_ERR_BAD_REQUEST',
    417: 'EDGE_ERR_EXPECTATION_FAILED',
    431: 'EDGE_ERR_HEADERS_TOO_LARGE',
  };
  const refused: Array<[string, string, number]> = [
    [
      'Content-Length and Transfer-Encoding together (request smuggling)',
      'POST /data HTTP/1.1\r\nhost: x\r\ndevice-token: t\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
    ],
    [
      'two different Content-Length values',
      'POST /data HTTP/1.1\r\nhost: x\r\ndevice-token: t\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}x',
      400,
    ],
    ['a transfer coding other than chunked', 'POST /data HTTP/1.1\r\nhost: x\r\ntransfer-encoding: gzip\r\n\r\n', 400],
    ['chunked on HTTP/1.0', 'POST /data HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['a negative Content-Length', 'POST /data HTTP/1.1\r\nhost: x\r\ncontent-length: -5\r\n\r\n', 400],
    ['an obs-fold header line', 'GET /healthz HTTP/1.1\r\nhost: x\r\nx-a: 1\r\n  folded\r\n\r\n', 400],
    ['a bare LF inside a header', 'GET /healthz HTTP/1.1\r\nhost: x\r\nx-a: 1\nx-b: 2\r\n\r\n', 400],
    ['a space before the colon', 'GET /healthz HTTP/1.1\r\nhost : x\r\n\r\n', 400],
    ['a header line without a colon', 'GET /healthz HTTP/1.1\r\nhost: x\r\nno-colon\r\nx-b: 2\r\n\r\n', 400],
    ['an empty header name', 'GET /healthz HTTP/1.1\r\nhost: x\r\n: 1\r\n\r\n', 400],
    ['a malformed request line', 'GET  /healthz HTTP/1.1\r\n\r\n', 400],
    ['an unknown HTTP version', 'GET /healthz HTTP/2.0\r\n\r\n', 400],
    ['an expectation other than 100-continue', 'GET /healthz HTTP/1.1\r\nhost: x\r\nexpect: magic\r\n\r\n', 417],
    ['a head over 16 KiB', `GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(17_000)}\r\n\r\n`, 431],
  ];
  it.each(refused)('refuses %s and closes that connection only', async (_name, bytes, status) => {
    const stack = await startStack();
    const { sock: bystander, r: rb } = await connected(stack.gw.ports.http);
    const { sock, r } = await connected(stack.gw.ports.http);
    sock.write(bytes);
    await r.closes();
    expect(statuses(r.text())[0]).toBe(status);
    bystander.write(post('wire-ok', rec(1)));
    await rb.until((t) => statuses(t).length === 1);
    expect(statuses(rb.text())).toEqual([200]);
    // Counted by its code (the log line goes with it).
    const metrics = await (await request(`${stack.http}/metrics`)).body.text();
    expect(metrics).toContain(`tago_edge_messages_rejected_total{protocol="http",code="${codeOf[status]}"} 1`);
  });

  it('a malformed chunk in a body being read answers 400 naming it, counted as an invalid body', async () => {
    const stack = await startStack();
    const { sock, r } = await connected(stack.gw.ports.http);
    sock.write(
      'POST /data HTTP/1.1\r\nhost: x\r\ndevice-token: t\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n',
    );
    await r.closes();
    expect(statuses(r.text())).toEqual([400]);
    expect(r.text()).toContain('body could not be read: malformed chunk size');
    const metrics = await (await request(`${stack.http}/metrics`)).body.text();
    expect(metrics).toContain('tago_edge_messages_rejected_total{protocol="http",code="EDGE_ERR_INVALID_BODY"} 1');
  });

  it('a request started but never finished is cut off at requestTimeoutMs with 408', async () => {
    const stack = await startStack({ http: { headersTimeoutMs: 400, requestTimeoutMs: 600 } });
    const { sock, r } = await connected(stack.gw.ports.http);
    sock.write(post('wire-d', '').replace('content-length: 0', 'content-length: 100'));
    sock.write('{"variable":');
    const t0 = Date.now();
    await r.closes(3_000);
    expect(statuses(r.text())).toEqual([408]);
    expect(Date.now() - t0).toBeLessThan(2_500);
    const metrics = await (await request(`${stack.http}/metrics`)).body.text();
    expect(metrics).toContain('tago_edge_messages_rejected_total{protocol="http",code="EDGE_ERR_REQUEST_TIMEOUT"} 1');
  });
});
