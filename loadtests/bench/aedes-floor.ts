/**
 * Floor for the MQTT bench: a bare aedes 1.x broker on TCP, no hooks, no store, in its own process.
 * It accepts anything and answers QoS 1 PUBACKs as soon as aedes can; `run.ts` compares the gateway
 * (aedes + auth + parser + validation + durable commit) against it. Prints one JSON `listening` line.
 *
 * Run: node dist/loadtests/bench/aedes-floor.js [--port 0]
 */
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

const i = process.argv.indexOf('--port');
const port = i >= 0 ? Number(process.argv[i + 1]) : 0;
const broker = await Aedes.createBroker({ heartbeatInterval: 60_000 });
const server = createServer(broker.handle);
server.listen(port, '127.0.0.1', () => {
  const addr = server.address();
  console.log(JSON.stringify({ event: 'listening', mqtt: typeof addr === 'object' && addr ? addr.port : port }));
});
const stop = () => {
  server.close();
  broker.close(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
