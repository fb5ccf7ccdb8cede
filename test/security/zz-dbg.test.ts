import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { it } from 'vitest';
import { startStack } from '../helpers/stack.js';
it('x', async () => {
  const stack = await startStack();
  for (let i = 0; i < 20; i++) {
    const sock = connect(stack.gw.ports.http, '127.0.0.1');
    sock.on('error', (e) => console.log(i, 'err', e.message));
    await new Promise((r) => sock.once('connect', r));
    const buf = randomBytes(1 + Math.floor(Math.random() * 65_536));
    sock.write(buf);
    sock.end();
    const t0 = Date.now();
    const ok = await Promise.race([new Promise((r) => sock.once('close', () => r(true))), new Promise((r) => setTimeout(() => r(false), 3000))]);
    console.log(i, buf.length, buf.subarray(0, 8).toString('hex'), ok, Date.now() - t0);
    sock.destroy();
  }
});
