/**
 * The limit: @grpc/grpc-js with pass-through (de)serializers and a pre-encoded answer, so
 * nothing is decoded or encoded per call. What is left is the transport's own cost: the
 * most any decoder change in the sidecar could win back.
 */
import { Server, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { loadAuthProto } from '../../src/grpc/protos.js';
import { serve } from './serve.js';

const definition = loadAuthProto().envoy.service.auth.v3.Authorization.service;
const OK_BYTES: Buffer = definition.Check.responseSerialize({ status: { code: 0 }, ok_response: {} });

const server = new Server();
server.addService(
  {
    Check: {
      path: definition.Check.path,
      requestStream: false,
      responseStream: false,
      requestSerialize: (bytes: Buffer) => bytes,
      requestDeserialize: (bytes: Buffer) => bytes,
      responseSerialize: () => OK_BYTES,
      responseDeserialize: (bytes: Buffer) => bytes,
    },
  },
  { Check: (_call: ServerUnaryCall<Buffer, null>, callback: sendUnaryData<null>) => callback(null, null) },
);
await serve(server);
