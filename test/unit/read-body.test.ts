import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { EdgeError } from '../../gateway/errors.js';
import { readBody } from '../../gateway/ingest/http/read-body.js';

type Outcome = { err: EdgeError | null; body: Buffer | null };

/** A real server whose handler reads each body with `readBody` and reports every call of `done`. */
async function serve(limit: number): Promise<{ port: number; calls: Outcome[]; next(): Promise<Outcome[]> }> {
  const calls: Outcome[] = [];
  let wake: (() => void) | null = null;
  server = createServer((req: IncomingMessage, res) => {
    readBody(req, limit, (err, body) => {
      calls.push({ err, body });
      wake?.();
      if (!res.destroyed) res.end(err ? String(err.statusCode) : 'ok');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    port,
    calls,
    async next() {
      if (calls.length === 0) await new Promise<void>((r) => (wake = r));
      // Give a second (wrong) call a chance to show up.
      await new Promise((r) => setTimeout(r, 50));
      return calls;
    },
  };
}

let server: Server | null = null;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  server = null;
});

function raw(port: number, text: string, end = true) {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write(text);
  if (end) socket.end();
  return socket;
}

describe('readBody', () => {
  it('joins a body sent in several chunks, and reads an empty one', async () => {
    const s = await serve(1000);
    const socket = raw(s.port, 'POST /data HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n', false);
    for (const part of ['{"variable":', '"a",', '"value":1}']) {
      socket.write(`${part.length.toString(16)}\r\n${part}\r\n`);
      await new Promise((r) => setTimeout(r, 10));
    }
    socket.end('0\r\n\r\n');
    const [got] = await s.next();
    expect(got?.err).toBeNull();
    expect(got?.body?.toString()).toBe('{"variable":"a","value":1}');
    expect(s.calls).toHaveLength(1);

    s.calls.length = 0;
    raw(s.port, 'POST /data HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n');
    const [empty] = await s.next();
    expect(empty?.err).toBeNull();
    expect(empty?.body?.length).toBe(0);
  });

  it('refuses a declared Content-Length over the limit before reading, with 413', async () => {
    const s = await serve(100);
    raw(s.port, 'POST /data HTTP/1.1\r\nhost: x\r\ncontent-length: 101\r\n\r\n');
    const calls = await s.next();
    expect(calls).toHaveLength(1);
    expect(calls[0]?.err?.statusCode).toBe(413);
    expect(calls[0]?.err?.message).toContain('101 bytes or more (max 100 bytes');
  });

  it('refuses a chunked body as soon as it overflows, once', async () => {
    const s = await serve(100);
    const socket = raw(s.port, 'POST /data HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n', false);
    for (let i = 0; i < 5; i++) socket.write(`3c\r\n${'x'.repeat(60)}\r\n`);
    socket.end('0\r\n\r\n');
    const calls = await s.next();
    expect(calls).toHaveLength(1);
    expect(calls[0]?.err?.statusCode).toBe(413);
    expect(calls[0]?.err?.message).toContain('120 bytes or more');
  });

  it('reports a request aborted before its body was complete as a 400, once', async () => {
    const s = await serve(1000);
    const socket = raw(s.port, 'POST /data HTTP/1.1\r\nhost: x\r\ncontent-length: 500\r\n\r\n{"variable":', false);
    await new Promise((r) => setTimeout(r, 30));
    socket.destroy();
    const calls = await s.next();
    expect(calls).toHaveLength(1);
    expect(calls[0]?.err?.statusCode).toBe(400);
    expect(calls[0]?.err?.message).toBe('request aborted before the body was complete');
  });
});
