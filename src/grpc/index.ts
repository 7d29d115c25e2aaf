// The Check pipeline: CheckRequest -> view -> credentials -> policy -> CheckResponse, and the
// hooks it reports through. Cheap to import (authzctl policy test runs it offline): what
// loads @grpc/grpc-js has entries of its own, ./transport.ts (the server and grpc.health.v1)
// and ./protos.ts (proto-loader descriptors for clients). See ENTRIES in .dependency-cruiser.cjs.
export { createCheckHandler, policyDeny, type CheckDependencies, type CheckHandler, type CheckTarget } from './check.js';
export type { CheckMetrics, DecisionRecord, DecisionSink } from './check-sinks.js';
export { allowResponse, denyResponse, GrpcCode, type AllowOptions, type DecisionMetadata, type DenyKind, type DenyOptions } from './response.js';
// envoy.type.v3.StatusCode names, for clients that load enums as strings (authzctl check).
export { HTTP_STATUS_CODES } from './wire/check-response.js';
// The server's CheckRequest decoder, for requests replayed offline (authzctl policy replay).
export { decodeCheckRequest } from './wire/check-request.js';
export { IdentityHeaders, SUBJECT_HEADER, ISSUER_HEADER, PRINCIPAL_HEADER, type CallerHeaders } from './identity-headers.js';
