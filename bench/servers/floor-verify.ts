/**
 * The floor plus one ES256 signature check per request: decode the CheckRequest, take the
 * bearer token from the headers and verify its signature with node:crypto against the example
 * IdP key. Nothing else (no claims, no cache): the least a sidecar that verifies every new
 * token must do. A token that does not verify is answered UNAUTHENTICATED, so the
 * harness's pre-check would catch a broken setup.
 */
import { verify } from 'node:crypto';
import { Server, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { loadAuthProto } from '../../src/grpc/protos.js';
import type { CheckRequest__Output } from '../../src/generated/envoy/service/auth/v3/CheckRequest.js';
import { idpPublicKey } from '../../testkit/tokens.js';
import { serve } from './serve.js';

const OK = Object.freeze({ status: { code: 0 }, ok_response: {} });
const UNAUTHENTICATED = Object.freeze({ status: { code: 16 } });
const key = idpPublicKey();

function signatureVerifies(request: CheckRequest__Output): boolean {
  const header = request.attributes?.request?.http?.headers?.authorization ?? '';
  const token = header.startsWith('Bearer ') ? header.slice(7) : '';
  const dot = token.lastIndexOf('.');
  if (dot <= 0) return false;
  const signature = Buffer.from(token.slice(dot + 1), 'base64url');
  return verify('sha256', Buffer.from(token.slice(0, dot)), { key, dsaEncoding: 'ieee-p1363' }, signature);
}

const server = new Server();
server.addService(loadAuthProto().envoy.service.auth.v3.Authorization.service, {
  Check: (call: ServerUnaryCall<CheckRequest__Output, unknown>, callback: sendUnaryData<unknown>) =>
    callback(null, signatureVerifies(call.request) ? OK : UNAUTHENTICATED),
});
await serve(server);
