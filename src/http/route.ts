/**
 * Which convention an auth request follows, and for which service, read from its URL alone.
 * The URL is written in the proxy's configuration (nginx `proxy_pass`, Traefik `address`,
 * Caddy `uri`, Envoy `path_prefix`), so a client of the proxy cannot choose it: what the
 * convention and the service are is never taken from a header.
 *
 *   /envoy/<original path>                          Envoy ext_authz http_service (path_prefix /envoy)
 *   /nginx                                          nginx auth_request
 *   /forward-auth                                   Traefik ForwardAuth, Caddy forward_auth
 *   /service/<name>/envoy/<original path>, /service/<name>/nginx, /service/<name>/forward-auth
 *                                                   the same, naming the service for gateway mode
 *
 * The service comes first so that Envoy's original path, which follows the prefix, can never
 * be read as a service name: `/envoy/orders/x` is the path `/orders/x`, not service `orders`.
 */

export type Convention = 'envoy' | 'nginx' | 'forward_auth';

export const CONVENTIONS: readonly Convention[] = Object.freeze(['envoy', 'nginx', 'forward_auth']);

export interface Route {
  readonly convention: Convention;
  /** The service the URL names (gateway mode), or null. */
  readonly service: string | null;
  /** Envoy only: the original request's path and query, as Envoy appended it to the prefix. */
  readonly originalPath: string;
}

/** The same rule as the config's `service`. */
const SERVICE_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const SERVICE_PREFIX = '/service/';

/** The route of an auth request's target (origin-form, as node gives `req.url`), or null: not an endpoint. */
export function parseRoute(url: string): Route | null {
  let service: string | null = null;
  let rest = url;
  if (url.startsWith(SERVICE_PREFIX)) {
    const end = url.indexOf('/', SERVICE_PREFIX.length);
    if (end < 0) return null;
    service = url.slice(SERVICE_PREFIX.length, end);
    if (!SERVICE_NAME.test(service)) return null;
    rest = url.slice(end);
  }
  if (rest === '/nginx') return { convention: 'nginx', service, originalPath: '' };
  if (rest === '/forward-auth') return { convention: 'forward_auth', service, originalPath: '' };
  // `/envoy` alone, or `/envoy?…`, is Envoy's prefix with an empty path: the request view
  // refuses it (malformed_request, invalid_path) like a CheckRequest without a path.
  if (rest === '/envoy') return { convention: 'envoy', service, originalPath: '' };
  if (rest.startsWith('/envoy/') || rest.startsWith('/envoy?')) return { convention: 'envoy', service, originalPath: rest.slice('/envoy'.length) };
  return null;
}
