/**
 * Floor for the HTTP bench: a bare `node:http` server in its own process answering `POST /data` the way
 * TagoIO does (`{"status":true,"result":"1 Data Added"}`) after reading the body, with no auth, parsing,
 * validation or store. Prints one JSON `listening` line.
 *
 * Run: node dist/loadtests/bench/http-floor.js [--port 0]
 */
import { createServer } from 'node:http';

const i = process.argv.indexOf('--port');
const port = i >= 0 ? Number(process.argv[i + 1]) : 0;
const OK = Buffer.from('{"status":true,"result":"1 Data Added"}');
const HEADERS = { 'content-type': 'application/json; charset=utf-8', 'content-length': OK.length };

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (req.method === 'POST' && req.url === '/data') {
      res.writeHead(200, HEADERS);
      res.end(OK);
    } else {
      res.writeHead(404, { 'content-length': 0 });
      res.end();
    }
  });
});
server.keepAliveTimeout = 5_000;
server.listen(port, '127.0.0.1', () => {
  const addr = server.address();
  console.log(JSON.stringify({ event: 'listening', http: typeof addr === 'object' && addr ? addr.port : port }));
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
