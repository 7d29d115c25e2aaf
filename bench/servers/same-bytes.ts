/**
 * The same-bytes floor: the floor's full CheckRequest decode, answering with a canned copy of
 * the sidecar's own CheckResponse (the file named on the command line: the message bytes,
 * unframed). The sidecar's answers carry headers and dynamic metadata the floor's bare OK
 * lacks; against this server a CPU-per-Check ratio counts only what the sidecar does besides
 * sending those bytes.
 */
import { readFileSync } from 'node:fs';
import { Server, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { loadAuthProto } from '../../src/grpc/protos.js';
import { serve } from './serve.js';

const file = process.argv[2];
if (file === undefined) throw new Error('usage: same-bytes.js RESPONSE_FILE');
const ANSWER: Buffer = readFileSync(file);
const definition = loadAuthProto().envoy.service.auth.v3.Authorization.service;

const server = new Server();
server.addService(
  {
    Check: {
      ...definition.Check,
      responseSerialize: () => ANSWER,
    },
  },
  { Check: (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => callback(null, null) },
);
await serve(server);
