/**
 * The HTTP mode's floor: a bare node:http server answering every request 200 with no body,
 * at once. No forward-auth answer can cost less on node:http; the sidecar's HTTP figures are
 * ratios to this one, measured with the same h2load --h1 runs.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-length': 0 }).end();
});
server.keepAliveTimeout = 75_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ listening: (server.address() as AddressInfo).port })}\n`);
});
process.once('SIGTERM', () => {
  server.closeAllConnections();
  process.exit(0);
});
