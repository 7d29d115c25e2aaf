/**
 * A CheckRequest shaped the way Envoy's ext_authz filter builds one. Shared by `check`
 * (sent over gRPC) and `policy test` (fed to buildRequestView offline), so a policy test
 * sees exactly what the sidecar would.
 */
import { randomInt, randomUUID } from 'node:crypto';
import type { CheckRequest, CheckRequest__Output } from '../generated/envoy/service/auth/v3/CheckRequest.js';

/** Valid both as the gRPC request (input type) and as a decoded request (what buildRequestView takes). */
export type EnvoyCheckRequest = CheckRequest & CheckRequest__Output;

export const DEFAULT_HOST = 'localhost';
export const SERVICE_TOKEN_HEADER = 'x-service-token';

export interface RequestSpec {
  /** Default GET. Sent as given, not upper-cased: the sidecar refuses `get`, and a test should see that. */
  readonly method?: string;
  /** Path as on the request line, query included. Default "/". */
  readonly path?: string;
  /** `:authority`. Default: a `host` header if given, else "localhost". */
  readonly host?: string;
  /** Extra headers in order; names are lower-cased and repeats joined with "," (as Envoy's map does). */
  readonly headers?: ReadonlyArray<readonly [string, string]> | Readonly<Record<string, string>>;
  /** End-user token, sent as `authorization: Bearer …`. */
  readonly token?: string;
  /** Service token, sent as `x-service-token`. */
  readonly serviceToken?: string;
  /** mTLS peer identity (`attributes.source.principal`). */
  readonly principal?: string;
  /** Downstream "ip:port" (`attributes.source.address`). */
  readonly sourceAddress?: string;
  /** Per-route `context_extensions`. */
  readonly context?: Readonly<Record<string, string>>;
}

export function buildCheckRequest(spec: RequestSpec = {}): EnvoyCheckRequest {
  const method = spec.method ?? 'GET';
  const path = spec.path ?? '/';
  const extra = headerEntries(spec);
  const host = spec.host ?? extra.find(([name]) => name === 'host')?.[1] ?? DEFAULT_HOST;

  const headers: Record<string, string> = { ':method': method, ':path': path, ':authority': host, ':scheme': 'http' };
  for (const [name, value] of extra) {
    if (name === 'host') continue; // HTTP/1 Host becomes :authority in Envoy
    headers[name] = name in headers && !name.startsWith(':') ? `${headers[name]},${value}` : value;
  }
  headers['x-request-id'] ??= randomUUID();

  const queryAt = path.indexOf('?');
  return {
    attributes: {
      source: { ...sourceAddress(spec.sourceAddress), principal: spec.principal ?? '' },
      request: {
        time: timestamp(Date.now()),
        http: {
          id: String(randomInt(1, 2 ** 47)),
          method,
          headers,
          path,
          host,
          scheme: 'http',
          query: queryAt < 0 ? '' : path.slice(queryAt + 1),
          size: '0',
          protocol: 'HTTP/1.1',
        },
      },
      context_extensions: { ...spec.context },
    },
  };
}

function headerEntries(spec: RequestSpec): Array<[string, string]> {
  const given: ReadonlyArray<readonly [string, string]> =
    spec.headers === undefined ? [] : isHeaderList(spec.headers) ? spec.headers : Object.entries(spec.headers);
  const entries = given.map(([name, value]): [string, string] => [name.toLowerCase(), value]);
  if (spec.token !== undefined) entries.push(['authorization', /^bearer /i.test(spec.token) ? spec.token : `Bearer ${spec.token}`]);
  if (spec.serviceToken !== undefined) entries.push([SERVICE_TOKEN_HEADER, spec.serviceToken]);
  return entries;
}

function sourceAddress(address: string | undefined): { address?: { socket_address: { address: string; port_value: number } } } {
  if (!address) return {};
  const colon = address.lastIndexOf(':');
  const ip = colon < 0 ? address : address.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = colon < 0 ? 0 : Number(address.slice(colon + 1));
  return { address: { socket_address: { address: ip, port_value: port } } };
}

function timestamp(ms: number): { seconds: string; nanos: number } {
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

function isHeaderList(headers: NonNullable<RequestSpec['headers']>): headers is ReadonlyArray<readonly [string, string]> {
  return Array.isArray(headers);
}
