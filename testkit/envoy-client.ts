import { credentials, loadPackageDefinition, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ENVOY_PROTO_DIRS, ROOT } from './paths.js';

/**
 * A client built from Envoy's own protos (shipped in @grpc/grpc-js-xds), not from ours:
 * if the sidecar's trimmed protos ever drift from Envoy's wire format, these tests fail.
 */
const OPTIONS = { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true };
const packages = loadPackageDefinition(loadSync('envoy/service/auth/v3/external_auth.proto', { ...OPTIONS, includeDirs: ENVOY_PROTO_DIRS })) as any;
// grpc.health.v1 is not among Envoy's protos; the standard file is vendored in proto/.
const healthPackages = loadPackageDefinition(loadSync('grpc/health/v1/health.proto', { ...OPTIONS, includeDirs: [`${ROOT}proto`] })) as any;

export interface HeaderOption {
  header: { key: string; value?: string; raw_value?: Uint8Array };
  append_action?: string;
}

export interface CheckResult {
  status: { code: number; message?: string };
  ok_response?: { headers?: HeaderOption[]; headers_to_remove?: string[] };
  denied_response?: { status: { code: string | number }; headers?: HeaderOption[]; body: string };
  dynamic_metadata?: { fields: Record<string, { stringValue?: string; nullValue?: string }> };
  http_response?: string;
}

export class EnvoyClient {
  private readonly auth: Client & Record<string, (...args: any[]) => unknown>;
  private readonly health: Client & Record<string, (...args: any[]) => unknown>;

  constructor(address: string) {
    this.auth = new packages.envoy.service.auth.v3.Authorization(address, credentials.createInsecure());
    this.health = new healthPackages.grpc.health.v1.Health(address, credentials.createInsecure());
  }

  check(request: unknown, deadlineMs = 5_000): Promise<CheckResult> {
    return new Promise((resolve, reject) => {
      this.auth.Check(request, { deadline: Date.now() + deadlineMs }, (error: ServiceError | null, response: CheckResult) =>
        error ? reject(error) : resolve(response),
      );
    });
  }

  healthCheck(service = ''): Promise<{ status: string }> {
    return new Promise((resolve, reject) => {
      this.health.Check({ service }, { deadline: Date.now() + 5_000 }, (error: ServiceError | null, response: { status: string }) =>
        error ? reject(error) : resolve(response),
      );
    });
  }

  close(): void {
    this.auth.close();
    this.health.close();
  }
}

export interface RequestShape {
  method?: string;
  path?: string;
  host?: string;
  headers?: Record<string, string>;
  /** Sent as header_map entries with raw_value bytes (Envoy's encode_raw_headers). */
  rawHeaders?: Array<[string, string | Buffer]>;
  principal?: string;
  sourceAddress?: string;
  contextExtensions?: Record<string, string>;
  id?: string;
}

/** A CheckRequest shaped the way Envoy's ext_authz filter builds one. */
export function envoyRequest(shape: RequestShape = {}): unknown {
  const method = shape.method ?? 'GET';
  const path = shape.path ?? '/';
  const host = shape.host ?? 'orders.example.test';
  const http: Record<string, unknown> = {
    id: shape.id ?? '4242',
    method,
    path,
    host,
    scheme: 'http',
    protocol: 'HTTP/1.1',
    size: '0',
  };
  const base = { ':method': method, ':path': path, ':authority': host, ':scheme': 'http', 'user-agent': 'test', ...shape.headers };
  if (shape.rawHeaders) {
    const entries: Array<{ key: string; raw_value: Uint8Array }> = Object.entries(base).map(([key, value]) => ({ key, raw_value: Buffer.from(value) }));
    for (const [key, value] of shape.rawHeaders) entries.push({ key, raw_value: typeof value === 'string' ? Buffer.from(value) : value });
    http.header_map = { headers: entries };
  } else {
    http.headers = base;
  }
  const [ip, port] = (shape.sourceAddress ?? '10.0.0.7:51000').split(':');
  return {
    attributes: {
      source: { address: { socket_address: { address: ip, port_value: Number(port) } }, principal: shape.principal ?? '' },
      destination: { address: { socket_address: { address: '10.0.0.8', port_value: 8080 } } },
      request: { time: { seconds: String(Math.floor(Date.now() / 1000)), nanos: 0 }, http },
      context_extensions: shape.contextExtensions ?? {},
    },
  };
}

export function headerOf(options: HeaderOption[] | undefined, name: string): string | undefined {
  return options?.find((o) => o.header.key.toLowerCase() === name)?.header.value;
}

export function denyBody(result: CheckResult): { error: string; reason: string; request_id: string } {
  return JSON.parse(result.denied_response?.body ?? '{}');
}

export function httpStatus(result: CheckResult): number {
  const code = result.denied_response?.status.code;
  if (code === undefined) return 200;
  return typeof code === 'number' ? code : (HTTP_STATUS_NAMES[code] ?? -1);
}

const HTTP_STATUS_NAMES: Record<string, number> = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  InternalServerError: 500,
  ServiceUnavailable: 503,
  RequestHeaderFieldsTooLarge: 431,
};

/**
 * A CheckRequest (as given to `EnvoyClient.check`, e.g. from `envoyRequest`) in the proto3 JSON
 * mapping, one line, made with Envoy's own protos: encoded, then decoded to JSON-style values
 * (int64 and enums as strings, bytes as base64), with the field names proto3 JSON printers use
 * (`json`: lowerCamelCase) or the proto's own (`proto`), and the request time as RFC 3339.
 * What recorded traffic for `authzctl policy replay` looks like.
 */
export function envoyRequestJson(request: unknown, names: 'json' | 'proto' = 'json'): string {
  const encode = packages.envoy.service.auth.v3.Authorization.service.Check.requestSerialize as (value: unknown) => Buffer;
  const decoded = jsonDeserializer(names)(encode(request));
  const inRequest = decoded.attributes?.request;
  if (inRequest?.time !== undefined) {
    const { seconds, nanos } = inRequest.time as { seconds: string; nanos?: number };
    inRequest.time = new Date(Number(seconds) * 1000 + Math.floor((nanos ?? 0) / 1e6)).toISOString();
  }
  return JSON.stringify(decoded);
}

const jsonDeserializers = new Map<'json' | 'proto', (bytes: Buffer) => any>();
function jsonDeserializer(names: 'json' | 'proto'): (bytes: Buffer) => any {
  let deserialize = jsonDeserializers.get(names);
  if (deserialize === undefined) {
    const options = { keepCase: names === 'proto', longs: String, enums: String, bytes: String, json: true, defaults: false, oneofs: false };
    const definition = loadSync('envoy/service/auth/v3/external_auth.proto', { ...options, includeDirs: ENVOY_PROTO_DIRS });
    deserialize = (definition['envoy.service.auth.v3.Authorization'] as any).Check.requestDeserialize as (bytes: Buffer) => any;
    jsonDeserializers.set(names, deserialize);
  }
  return deserialize;
}
