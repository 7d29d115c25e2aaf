import type { HealthCheckRequest, HealthCheckRequest__Output } from '../../generated/grpc/health/v1/HealthCheckRequest.js';
import type { HealthCheckResponse, HealthCheckResponse__Output } from '../../generated/grpc/health/v1/HealthCheckResponse.js';
import { declaredFields, WireReader, WireType } from './reader.js';
import { encodeMessage } from './writer.js';

export { WireError } from './reader.js';

/**
 * grpc.health.v1 by hand: `HealthCheckRequest { string service = 1; }` and
 * `HealthCheckResponse { ServingStatus status = 1; }`. The sidecar needs nothing else of
 * protobuf on its own process's path, so it loads no .proto file at all (loading Envoy's
 * took ~0.2 s of start-up and ~5 MiB of heap). Same shapes as @grpc/proto-loader's under
 * LOADER_OPTIONS (enums as names); unknown fields are skipped, a declared one with another
 * wire type is a WireError (grpc-js answers INTERNAL).
 */
const STATUS_NAMES = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;

const REQUEST = declaredFields({ 1: WireType.LEN });
const RESPONSE = declaredFields({ 1: WireType.VARINT });

export function decodeHealthCheckRequest(buf: Buffer): HealthCheckRequest__Output {
  const r = new WireReader(buf);
  const request: HealthCheckRequest__Output = {};
  while (r.more()) {
    const tag = r.tag();
    if (tag === 0x0a /* 1:LEN */) request.service = r.string();
    else r.skip(tag, REQUEST);
  }
  return request;
}

export function encodeHealthCheckRequest(request: HealthCheckRequest): Buffer {
  return encodeMessage(request, (w, m) => {
    if (m.service == null) return;
    w.tag(0x0a);
    w.string(String(m.service));
  });
}

export function encodeHealthCheckResponse(response: HealthCheckResponse): Buffer {
  return encodeMessage(response, (w, m) => {
    if (m.status == null) return;
    const code = typeof m.status === 'number' ? m.status : STATUS_NAMES.indexOf(m.status);
    if (code < 0) throw new TypeError(`HealthCheckResponse.status: unknown value ${String(m.status)}`);
    w.tag(0x08 /* 1:VARINT */);
    w.int32(code);
  });
}

export function decodeHealthCheckResponse(buf: Buffer): HealthCheckResponse__Output {
  const r = new WireReader(buf);
  const response: HealthCheckResponse__Output = {};
  while (r.more()) {
    const tag = r.tag();
    if (tag === 0x08) {
      const code = r.uint32();
      response.status = STATUS_NAMES[code] ?? code;
    } else {
      r.skip(tag, RESPONSE);
    }
  }
  return response;
}
