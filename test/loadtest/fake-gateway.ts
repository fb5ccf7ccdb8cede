/**
 * A fake "gateway" for proving the gate can fail: answers `POST /data` with TagoIO's 200 after `delayMs`,
 * and forwards nothing anywhere. Torn down when the test finishes.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { onTestFinished } from 'vitest';

export async function startFakeGateway(delayMs: number): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/data') {
        res.writeHead(404).end();
        return;
      }
      requests++;
      const answer = () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"status":true,"result":"1 Data Added"}');
      };
      if (delayMs > 0) setTimeout(answer, delayMs);
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onTestFinished(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests };
}
