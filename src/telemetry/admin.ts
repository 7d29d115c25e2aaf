import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { splitAddress } from '../shared/index.js';

export interface Readiness {
  readonly ready: boolean;
  /** Why not ready, e.g. ["policy not loaded", "keys not loaded: idp"]; empty when ready. */
  readonly reasons: readonly string[];
  /**
   * With a NATS control plane: the followed KV keys the sidecar cannot confirm are current.
   * Informational: serving the last good state is the point of the control plane's design, so
   * it does not make the sidecar unready.
   */
  readonly control?: { readonly unconfirmed: readonly string[] };
}

export interface AdminServerOptions {
  readonly address: string;
  /** The /metrics body and its content type. */
  readonly metrics: { exposition(): Promise<string>; readonly contentType: string };
  readonly readiness: () => Readiness;
}

export interface AdminServer {
  readonly port: number;
  close(): Promise<void>;
}

/** `/healthz` (the process answers), `/readyz` (keys and policy loaded, not draining), `/metrics`. */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const readiness = options.readiness();
      res
        .writeHead(readiness.ready ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ ready: readiness.ready, reasons: readiness.reasons, ...(readiness.control && { control: readiness.control }) }) + '\n');
    } else if (path === '/metrics') {
      options.metrics.exposition().then(
        (text) => res.writeHead(200, { 'content-type': options.metrics.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  const { host, port } = splitAddress(options.address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
