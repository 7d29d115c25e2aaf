/**
 * The floor: a bare @grpc/grpc-js server that fully decodes each CheckRequest with the
 * sidecar's own protos (loadAuthProto) and answers OK at once. No Check can cost less in
 * this stack; the sidecar's figures are ratios to this one.
 */
import { Server, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { loadAuthProto } from '../../src/grpc/protos.js';
import { serve } from './serve.js';

const OK = Object.freeze({ status: { code: 0 }, ok_response: {} });

const server = new Server();
server.addService(loadAuthProto().envoy.service.auth.v3.Authorization.service, {
  Check: (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => callback(null, OK),
});
await serve(server);
