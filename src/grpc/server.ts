import { format } from 'node:util';
import { Server, ServerCredentials, setLogger, status, type ServerUnaryCall, type ServiceDefinition, type sendUnaryData } from '@grpc/grpc-js';
import type { CheckRequest__Output } from '../generated/envoy/service/auth/v3/CheckRequest.js';
import type { CheckResponse } from '../generated/envoy/service/auth/v3/CheckResponse.js';
import { decodeCheckRequest, encodeCheckResponse } from './wire/index.js';
import { decodeHealthCheckRequest, decodeHealthCheckResponse, encodeHealthCheckRequest, encodeHealthCheckResponse } from './wire/health.js';
import type { CheckHandler } from './check.js';
import type { HealthService } from './health.js';
import { openConnectionGate, type ConnectionRefusal, type TransportLimits } from './connection-gate.js';

export interface GrpcServerOptions {
  readonly address: string;
  readonly maxMessageBytes: number;
  readonly transport: TransportLimits;
  readonly check: CheckHandler;
  readonly health: HealthService;
  /** A connection closed by the handshake timeout, a bad preface or the connection cap. */
  readonly onConnectionRefused?: (reason: ConnectionRefusal) => void;
}

export interface GrpcServer {
  readonly port: number;
  /** Open gRPC connections (in handshake or established). */
  readonly connections: number;
  /** Stops accepting calls, lets in-flight Checks finish, force-closes after `timeoutMs`. */
  drain(timeoutMs: number): Promise<'drained' | 'forced'>;
}

/** Where grpc-js's own log lines go, by its severity. */
export interface GrpcJsLogSink {
  error(text: string): void;
  info(text: string): void;
  debug(text: string): void;
}

/**
 * Sends grpc-js's log lines (its errors, and what GRPC_VERBOSITY / GRPC_TRACE turn on) to
 * `sink` instead of its default, console.error: stderr is kept for the one line that says why
 * the sidecar cannot start. grpc-js keeps one logger per process; call this before the server
 * is constructed (its constructor traces).
 */
export function routeGrpcJsLogs(sink: GrpcJsLogSink): void {
  setLogger({
    error: (...args: unknown[]) => sink.error(format(...args)),
    info: (...args: unknown[]) => sink.info(format(...args)),
    debug: (...args: unknown[]) => sink.debug(format(...args)),
  });
}

/** The client half of a server-side method definition: grpc-js's server never calls it. */
function serverOnly(what: string): () => never {
  return () => {
    throw new TypeError(`${what}: this definition only serves; clients use the generated protos`);
  };
}

/**
 * Authorization/Check with the hand-written codec (the generic protobufjs decode builds every
 * field of Envoy's CheckRequest and was a quarter of a call's cost). A request that does not
 * decode throws WireError in the deserializer, which grpc-js answers INTERNAL for that call only.
 */
const AUTHORIZATION: ServiceDefinition = {
  Check: {
    path: '/envoy.service.auth.v3.Authorization/Check',
    requestStream: false,
    responseStream: false,
    requestSerialize: serverOnly('CheckRequest serializer'),
    requestDeserialize: decodeCheckRequest,
    responseSerialize: encodeCheckResponse,
    responseDeserialize: serverOnly('CheckResponse deserializer'),
    originalName: 'check',
  },
};

/** grpc.health.v1.Health, also by hand (wire/health.ts): the server loads no .proto file. */
const HEALTH: ServiceDefinition = {
  Check: {
    path: '/grpc.health.v1.Health/Check',
    requestStream: false,
    responseStream: false,
    requestSerialize: encodeHealthCheckRequest,
    requestDeserialize: decodeHealthCheckRequest,
    responseSerialize: encodeHealthCheckResponse,
    responseDeserialize: decodeHealthCheckResponse,
    originalName: 'check',
  },
  Watch: {
    path: '/grpc.health.v1.Health/Watch',
    requestStream: false,
    responseStream: true,
    requestSerialize: encodeHealthCheckRequest,
    requestDeserialize: decodeHealthCheckRequest,
    responseSerialize: encodeHealthCheckResponse,
    responseDeserialize: decodeHealthCheckResponse,
    originalName: 'watch',
  },
};

/**
 * grpc-js listens through a ConnectionGate (connection-gate.ts) rather than bindAsync: grpc-js
 * cannot bound the handshake or count connections, and takes sockets from a listener of
 * ours through its public connection injector.
 */
export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServer> {
  const server = new Server({
    'grpc.max_receive_message_length': options.maxMessageBytes,
    'grpc.max_send_message_length': 64 * 1024,
    'grpc.max_concurrent_streams': options.transport.maxConcurrentStreams,
    'grpc.enable_channelz': 0,
  });
  server.addService(AUTHORIZATION, {
    Check: (call: ServerUnaryCall<CheckRequest__Output, CheckResponse>, callback: sendUnaryData<CheckResponse>) => {
      const result = options.check(call.request);
      if (result instanceof Promise)
        result.then(
          (response) => callback(null, response),
          (error: Error) => callback({ code: status.INTERNAL, details: error.message }),
        );
      else callback(null, result);
    },
  });
  server.addService(HEALTH, options.health.handlers);

  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  const gate = await openConnectionGate({
    address: options.address,
    limits: options.transport,
    admit: (socket) => injector.injectConnection(socket),
    onRefused: options.onConnectionRefused,
  });

  return {
    port: gate.port,
    get connections() {
      return gate.connections;
    },
    drain: (timeoutMs) =>
      new Promise((resolve) => {
        options.health.set(false);
        options.health.close();
        gate.stopAccepting();
        const timer = setTimeout(() => {
          server.forceShutdown();
          // grpc-js only destroys the sessions it tracks for channelz, which is off.
          gate.destroyAll();
          resolve('forced');
        }, timeoutMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve('drained');
        });
      }),
  };
}
