import { fileURLToPath } from 'node:url';
import { loadSync, type Options } from '@grpc/proto-loader';
import { loadPackageDefinition } from '@grpc/grpc-js';
import type { ProtoGrpcType as AuthProto } from '../generated/external_auth.js';
import type { ProtoGrpcType as HealthProto } from '../generated/health.js';

/** Must match the flags in scripts/generate-types.mjs so the generated types describe these objects. */
export const LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: String,
  enums: String,
  oneofs: true,
  defaults: false,
};

export const PROTO_ROOT = fileURLToPath(new URL('../../../proto', import.meta.url));

export function loadAuthProto(): AuthProto {
  const definition = loadSync('envoy/service/auth/v3/external_auth.proto', { ...LOADER_OPTIONS, includeDirs: [PROTO_ROOT] });
  return loadPackageDefinition(definition) as unknown as AuthProto;
}

export function loadHealthProto(): HealthProto {
  const definition = loadSync('grpc/health/v1/health.proto', { ...LOADER_OPTIONS, includeDirs: [PROTO_ROOT] });
  return loadPackageDefinition(definition) as unknown as HealthProto;
}
