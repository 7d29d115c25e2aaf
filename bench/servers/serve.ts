/**
 * Shared by the comparison servers: bind on a free loopback port, announce it on stdout as
 * one JSON line (`{"listening":PORT}`) for the harness, and exit on SIGTERM. Each server runs
 * in its own process so it has a core's worth of event loop to itself, like the sidecar.
 */
import { Server, ServerCredentials } from '@grpc/grpc-js';

export async function serve(server: Server): Promise<void> {
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  process.once('SIGTERM', () => {
    server.forceShutdown();
    process.exit(0);
  });
  process.stdout.write(`${JSON.stringify({ listening: port })}\n`);
}
