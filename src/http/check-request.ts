import { isIP } from 'node:net';
import type { CheckRequest__Output } from '../generated/envoy/service/auth/v3/CheckRequest.js';
import type { HeaderValue__Output } from '../generated/envoy/config/core/v3/HeaderValue.js';
import type { Convention, Route } from './route.js';

/**
 * An auth request of one convention → the CheckRequest Envoy's gRPC ext_authz would have sent
 * for the original request, so the one Check handler decides both: same path normalisation,
 * header limits, tokens, policy, metrics and decision log, by construction.
 *
 * Each convention reads the original method, path, host, scheme and client address from its
 * own fields (docs/http-mode.md has the table). Every convention's control headers are then
 * dropped, whichever endpoint they arrive on: a Traefik-style X-Forwarded-Uri sent to the nginx
 * endpoint is neither read as the path nor seen by the policy as a request header, so a client
 * that gets a header through the proxy cannot make one convention read another's field.
 */

/** Where a convention reads each part of the original request; null: from the auth request itself. */
interface Fields {
  readonly method: string | null;
  readonly path: string | null;
  readonly host: string;
  readonly scheme: string;
  readonly source: string;
}

const FIELDS: Readonly<Record<Convention, Fields>> = {
  // Envoy's http_service sends the original method and `path_prefix + path` as the auth
  // request's own, the original Host, and what `allowed_headers` lets through.
  envoy: { method: null, path: null, host: 'host', scheme: 'x-forwarded-proto', source: 'x-forwarded-for' },
  // What deploy/nginx/nginx.conf sets on the auth_request subrequest (proxy_set_header).
  nginx: { method: 'x-original-method', path: 'x-original-uri', host: 'host', scheme: 'x-forwarded-proto', source: 'x-real-ip' },
  // Traefik ForwardAuth and Caddy forward_auth: the auth request is a GET of the configured
  // address, so its own Host and method say nothing about the original request.
  forward_auth: { method: 'x-forwarded-method', path: 'x-forwarded-uri', host: 'x-forwarded-host', scheme: 'x-forwarded-proto', source: 'x-forwarded-for' },
};

/** The control headers of all conventions (and the common ones proxies set): read by their own convention, never passed on. */
export const CONTROL_HEADERS: ReadonlySet<string> = new Set([
  'x-original-uri',
  'x-original-method',
  'x-original-url',
  'x-forwarded-method',
  'x-forwarded-uri',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-prefix',
  'x-forwarded-for',
  'x-real-ip',
  'forwarded',
]);

/** Headers of the hop from the proxy to the sidecar, not of the original request (Host becomes `:authority`). */
export const HOP_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'upgrade',
  'trailer',
  'content-length',
  'expect',
]);

const NO_EXTENSIONS: Readonly<Record<string, string>> = Object.freeze({});

/**
 * The CheckRequest for an auth request: its route, its method and its headers as node's
 * `rawHeaders` (name, value, name, value…: repeated headers kept apart, in order). A
 * convention field that is missing, empty or repeated gives a request without method and
 * path, which the request view refuses as `malformed_request` like any CheckRequest lacking them.
 */
export function toCheckRequest(route: Route, method: string, rawHeaders: readonly string[]): CheckRequest__Output {
  const fields = FIELDS[route.convention];
  const entries: HeaderValue__Output[] = [];
  const read: { method?: string; path?: string; host?: string; scheme?: string } = {};
  if (fields.method === null) read.method = method;
  if (fields.path === null) read.path = route.originalPath;
  let source: string | undefined;
  let malformed = false;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    const value = rawHeaders[i + 1];
    if (!CONTROL_HEADERS.has(name) && !HOP_HEADERS.has(name)) {
      entries.push({ key: name, value });
      continue;
    }
    // X-Forwarded-For may come as several lines; the proxy appends the peer it saw last.
    if (name === fields.source) source = value;
    const field = name === fields.method ? 'method' : name === fields.path ? 'path' : name === fields.host ? 'host' : name === fields.scheme ? 'scheme' : null;
    if (field === null) continue;
    // Each field once and not empty: two values would be two readings of the original request.
    if (read[field] !== undefined || value === '') malformed = true;
    else read[field] = value;
  }
  const complete = !malformed && read.method !== undefined && read.path !== undefined && read.host !== undefined;
  const originalMethod = complete ? read.method! : '';
  const path = complete ? read.path! : '';
  const host = read.host ?? '';
  const pseudo: HeaderValue__Output[] = [
    { key: ':authority', value: host },
    { key: ':method', value: originalMethod },
    { key: ':path', value: path },
  ];
  if (read.scheme !== undefined) pseudo.push({ key: ':scheme', value: read.scheme });
  return {
    attributes: {
      source: { address: sourceAddress(source), principal: '' },
      request: {
        http: { id: '', method: originalMethod, path, host, scheme: read.scheme ?? '', header_map: { headers: pseudo.concat(entries) } },
      },
      context_extensions: route.service === null ? NO_EXTENSIONS : { service: route.service },
    },
  };
}

/** The last address of an X-Forwarded-For list (the peer the proxy saw), when it is an IP address. */
function sourceAddress(header: string | undefined): { socket_address: { address: string } } | undefined {
  if (header === undefined) return undefined;
  const ip = header.slice(header.lastIndexOf(',') + 1).trim();
  return isIP(ip) === 0 ? undefined : { socket_address: { address: ip } };
}
