import type { TransportLimits } from '../src/grpc/transport.js';
import { configSchema } from '../src/config/index.js';

/** The config schema's defaults for the gRPC transport, for tests that start the server in-process. */
export const TRANSPORT: TransportLimits = (() => {
  const { handshakeTimeoutMs, maxConnections, maxConcurrentStreams } = configSchema.shape.grpc.parse(undefined);
  return Object.freeze({ handshakeTimeoutMs, maxConnections, maxConcurrentStreams });
})();
