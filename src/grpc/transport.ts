// The gRPC server (grpc-js behind a connection gate, with the hand-written codec) and
// grpc.health.v1: a second entry of grpc/, beside index.ts, because it loads @grpc/grpc-js,
// which the offline Check pipeline (authzctl policy test) does not need.
export { routeGrpcJsLogs, startGrpcServer, type GrpcJsLogSink, type GrpcServer, type GrpcServerOptions } from './server.js';
export { HealthService, AUTHORIZATION_SERVICE } from './health.js';
export type { ConnectionRefusal, TransportLimits } from './connection-gate.js';
