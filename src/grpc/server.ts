import { Server, ServerCredentials, status, type ServerUnaryCall, type ServiceDefinition, type sendUnaryData } from '@grpc/grpc-js';
import type { CheckRequest__Output } from '../generated/envoy/service/auth/v3/CheckRequest.js';
import type { CheckResponse } from '../generated/envoy/service/auth/v3/CheckResponse.js';
import { loadAuthProto, loadHealthProto } from './protos.js';
import { decodeCheckRequest, encodeCheckResponse } from './wire/index.js';
import type { CheckHandler } from './check.js';
import type { HealthService } from './health.js';

export interface GrpcServerOptions {
  readonly address: string;
  readonly maxMessageBytes: number;
  readonly check: CheckHandler;
  readonly health: HealthService;
}

export interface GrpcServer {
  readonly port: number;
  /** Stops accepting calls, lets in-flight Checks finish, force-closes after `timeoutMs`. */
  drain(timeoutMs: number): Promise<'drained' | 'forced'>;
}

type GenericCheck = ReturnType<typeof loadAuthProto>['envoy']['service']['auth']['v3']['Authorization']['service']['Check'];

/**
 * Authorization/Check with the hand-written codec on the server side (the generic protobufjs
 * decode builds every field of Envoy's CheckRequest and was a quarter of a call's cost). The
 * client-side functions stay protobufjs: the server never calls them. A request that does not
 * decode throws WireError in the deserializer, which grpc-js answers INTERNAL for that call only.
 */
function authorizationService(generic: GenericCheck): ServiceDefinition {
  return {
    Check: {
      path: '/envoy.service.auth.v3.Authorization/Check',
      requestStream: false,
      responseStream: false,
      requestSerialize: generic.requestSerialize,
      requestDeserialize: decodeCheckRequest,
      responseSerialize: encodeCheckResponse,
      responseDeserialize: generic.responseDeserialize,
      originalName: 'check',
    },
  };
}

export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServer> {
  const server = new Server({
    'grpc.max_receive_message_length': options.maxMessageBytes,
    'grpc.max_send_message_length': 64 * 1024,
    'grpc.enable_channelz': 0,
  });
  const auth = loadAuthProto();
  const health = loadHealthProto();
  server.addService(authorizationService(auth.envoy.service.auth.v3.Authorization.service.Check), {
    Check: (call: ServerUnaryCall<CheckRequest__Output, CheckResponse>, callback: sendUnaryData<CheckResponse>) => {
      const result = options.check(call.request);
      if (result instanceof Promise) result.then((response) => callback(null, response), (error: Error) => callback({ code: status.INTERNAL, details: error.message }));
      else callback(null, result);
    },
  });
  server.addService(health.grpc.health.v1.Health.service, options.health.handlers);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(options.address, ServerCredentials.createInsecure(), (error, boundPort) => (error ? reject(error) : resolve(boundPort)));
  });

  return {
    port,
    drain: (timeoutMs) =>
      new Promise((resolve) => {
        options.health.set(false);
        options.health.close();
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve('forced');
        }, timeoutMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve('drained');
        });
      }),
  };
}
