/**
 * A client of the sidecar's HTTP mode that sends, for an original request, the auth request
 * each proxy would send (docs/http-mode.md): Envoy's http_service (the original method and
 * path after the /envoy prefix), nginx's auth_request as deploy/nginx/nginx.conf configures it,
 * and Traefik's ForwardAuth / Caddy's forward_auth (a GET with X-Forwarded-*).
 */
import { Agent, request, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';

export type Convention = 'envoy' | 'nginx' | 'forward_auth';
export const CONVENTIONS: readonly Convention[] = ['envoy', 'nginx', 'forward_auth'];

export interface OriginalRequest {
  readonly method: string;
  /** Path and query, as the client sent them. */
  readonly path: string;
  readonly host: string;
  readonly scheme?: string;
  readonly clientIp?: string;
  /** The client's headers the proxy passes on (Authorization, Cookie, …). */
  readonly headers?: Readonly<Record<string, string | string[]>>;
  /** Gateway mode: the service the proxy's configuration names in the endpoint URL. */
  readonly service?: string;
}

export interface AuthRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: OutgoingHttpHeaders;
}

/** The auth request a proxy of `convention` sends for `original`. */
export function authRequest(convention: Convention, original: OriginalRequest): AuthRequest {
  const prefix = original.service === undefined ? '' : `/service/${original.service}`;
  const scheme = original.scheme ?? 'http';
  const ip = original.clientIp ?? '10.0.0.7';
  const headers = { ...original.headers };
  switch (convention) {
    case 'envoy':
      return {
        method: original.method,
        path: `${prefix}/envoy${original.path}`,
        headers: { ...headers, host: original.host, 'x-forwarded-proto': scheme, 'x-forwarded-for': ip },
      };
    case 'nginx':
      return {
        method: 'GET',
        path: `${prefix}/nginx`,
        headers: {
          ...headers,
          host: original.host,
          'x-original-uri': original.path,
          'x-original-method': original.method,
          'x-forwarded-proto': scheme,
          'x-real-ip': ip,
        },
      };
    case 'forward_auth':
      return {
        method: 'GET',
        path: `${prefix}/forward-auth`,
        headers: {
          ...headers,
          host: '127.0.0.1:9193',
          'x-forwarded-method': original.method,
          'x-forwarded-uri': original.path,
          'x-forwarded-host': original.host,
          'x-forwarded-proto': scheme,
          'x-forwarded-for': ip,
        },
      };
  }
}

export interface AuthAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** Sends auth requests to one sidecar's HTTP listener over kept-alive connections, as a proxy does. */
export class ForwardAuthClient {
  private readonly agent: Agent;
  private readonly port: number;

  constructor(httpUrl: string, connections = 8) {
    this.port = Number(new URL(httpUrl).port);
    this.agent = new Agent({ keepAlive: true, maxSockets: connections });
  }

  send(auth: AuthRequest, timeoutMs = 5_000): Promise<AuthAnswer> {
    return new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: this.port, agent: this.agent, method: auth.method, path: auth.path, headers: auth.headers, setHost: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
          res.on('error', reject);
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });
  }

  /** The original request in `convention`, sent. */
  check(convention: Convention, original: OriginalRequest): Promise<AuthAnswer> {
    return this.send(authRequest(convention, original));
  }

  close(): void {
    this.agent.destroy();
  }
}
