/**
 * Many idle MQTT connections at little cost to the generator: raw TCP sockets that send one MQTT 3.1.1
 * CONNECT (clean session, keep-alive 0 so the broker never times them out, password = device token) and
 * wait for CONNACK 0. MQTT.js clients would cost the generator far more memory per connection, and only
 * the gateway's memory is being measured.
 */
import { connect, type Socket } from 'node:net';
import { connectPacket } from '../lib/raw-mqtt.js';

function open(port: number, clientId: string, token: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' });
    const timer = setTimeout(() => fail(new Error('no CONNACK within 30 s')), 30_000);
    function fail(err: Error) {
      clearTimeout(timer);
      s.destroy();
      reject(err);
    }
    s.once('error', fail);
    s.once('connect', () => s.write(connectPacket(clientId, token, true, 0)));
    s.once('data', (d: Buffer) => {
      clearTimeout(timer);
      s.removeListener('error', fail);
      s.on('error', () => undefined);
      if (d[0] === 0x20 && d[3] === 0) resolve(s);
      else fail(new Error(`CONNACK refused: ${d.toString('hex')}`));
    });
  });
}

/** Opens `n` connections, `rampBatch` concurrently at a time. */
export async function openIdle(
  port: number,
  n: number,
  token: (i: number) => string,
  rampBatch = 200,
): Promise<Socket[]> {
  const out: Socket[] = [];
  for (let i = 0; i < n; i += rampBatch) {
    const batch: Array<Promise<Socket>> = [];
    for (let j = i; j < Math.min(n, i + rampBatch); j++) batch.push(open(port, `idle-${process.pid}-${j}`, token(j)));
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

export function closeIdle(sockets: Socket[]): void {
  for (const s of sockets) s.destroy();
}
