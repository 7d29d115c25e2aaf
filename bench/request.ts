/**
 * CheckRequest bytes as Envoy's ext_authz filter sends them, encoded with Envoy's own protos
 * (shipped in @grpc/grpc-js-xds), not the sidecar's trimmed copies: what the sidecar decodes
 * in the benchmark is what it would decode behind a real Envoy. Also decodes CheckResponses
 * for the correctness pre-checks.
 */
import { loadSync } from '@grpc/proto-loader';
import { ENVOY_PROTO_DIRS } from '../testkit/paths.js';

export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

const LOADER_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true };

interface Codec {
  requestSerialize(value: unknown): Buffer;
  responseSerialize(value: unknown): Buffer;
  responseDeserialize(bytes: Buffer): unknown;
}

let codec: Codec | undefined;

function envoyCodec(): Codec {
  codec ??= loadSync('envoy/service/auth/v3/external_auth.proto', { ...LOADER_OPTIONS, includeDirs: ENVOY_PROTO_DIRS })['envoy.service.auth.v3.Authorization'][
    'Check' as never
  ] as Codec;
  return codec;
}

export interface RequestShape {
  /** `Authorization: Bearer …`; none when absent. */
  readonly token?: string;
  readonly method?: string;
  /** As Envoy forwards it: with the query string. */
  readonly path?: string;
  readonly tenant?: string;
  readonly requestId?: string;
  /** Added to the route's context extensions (`virtual_host: orders`), e.g. a gateway's `service`. */
  readonly contextExtensions?: Readonly<Record<string, string>>;
}

/** The request every HTTP scenario sends: a GET of one order with a query string. */
export const ORDER_PATH = '/api/orders/8f14e45f-ea3c?include=items,shipping&limit=20';

/** A CheckRequest object (proto field names) with the attributes Envoy fills in. */
export function envoyCheckRequest(shape: RequestShape = {}): Record<string, unknown> {
  const method = shape.method ?? 'GET';
  const path = shape.path ?? ORDER_PATH;
  const host = 'orders.shop.svc.cluster.local';
  const requestId = shape.requestId ?? '1b4e28ba-2fa1-11d2-883f-0016d3cca427';
  const headers: Record<string, string> = {
    ':authority': host,
    ':method': method,
    ':path': path,
    ':scheme': 'https',
    accept: 'application/json',
    'accept-encoding': 'gzip, deflate, br',
    'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) orders-web/4.12.1',
    'x-forwarded-proto': 'https',
    'x-request-id': requestId,
    'x-tenant-id': shape.tenant ?? 'acme',
  };
  if (shape.token !== undefined) headers.authorization = `Bearer ${shape.token}`;
  const now = Date.now();
  return {
    attributes: {
      source: { address: { socket_address: { address: '10.12.3.45', port_value: 51234 } } },
      destination: { address: { socket_address: { address: '10.12.7.8', port_value: 8080 } } },
      request: {
        time: { seconds: String(Math.floor(now / 1000)), nanos: (now % 1000) * 1e6 },
        http: { id: '14160823432914263531', method, headers, path, host, scheme: 'https', protocol: 'HTTP/2', size: '-1' },
      },
      context_extensions: { virtual_host: 'orders', ...shape.contextExtensions },
    },
  };
}

/** gRPC length-prefixed message: compression flag 0, 4-byte big-endian length, the bytes. */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/** The gRPC body (framed CheckRequest) for a request shape. */
export function checkRequestBody(shape: RequestShape = {}): Buffer {
  return grpcFrame(envoyCodec().requestSerialize(envoyCheckRequest(shape)));
}

/** CheckRequest protobuf bytes without the gRPC frame. */
export function checkRequestMessage(shape: RequestShape = {}): Buffer {
  return envoyCodec().requestSerialize(envoyCheckRequest(shape));
}

/** What a pre-check reads from a CheckResponse. */
export interface CheckOutcome {
  readonly code: number;
  readonly allow: boolean;
  readonly reason: string | undefined;
  readonly rule: string | undefined;
}

export function decodeCheckResponse(message: Buffer): CheckOutcome {
  const response = envoyCodec().responseDeserialize(message) as {
    status?: { code?: number };
    ok_response?: unknown;
    dynamic_metadata?: { fields?: Record<string, { stringValue?: string }> };
  };
  const fields = response.dynamic_metadata?.fields ?? {};
  return {
    code: response.status?.code ?? 0,
    allow: response.ok_response !== undefined || (response.status?.code ?? 0) === 0,
    reason: fields.reason?.stringValue,
    rule: fields.rule?.stringValue,
  };
}

/** An encoded `CheckResponse { status: OK }`: what the floor and limit servers answer. */
export function okResponseMessage(): Buffer {
  return envoyCodec().responseSerialize({ status: { code: 0 }, ok_response: {} });
}
