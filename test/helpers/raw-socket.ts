/** A raw TCP connection to a test server (for bytes no client library would send), destroyed when the test ends. */
import { connect as netConnect, type Socket } from 'node:net';
import { onTestFinished } from 'vitest';

export function rawSocket(port: number): Socket {
  const s = netConnect(port, '127.0.0.1');
  s.on('error', () => {});
  onTestFinished(() => {
    s.destroy();
  });
  return s;
}
