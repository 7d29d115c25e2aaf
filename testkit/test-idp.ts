import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import type { TestCa } from './test-ca.js';

/** How the discovery document is answered. */
export type DiscoveryMode = 'normal' | 'issuer-mismatch' | 'http-jwks-off-loopback' | 'redirect' | 'huge' | 'not-json' | 'hang';
/** How the introspection endpoint answers. */
export type IntrospectionMode = 'normal' | 'down' | 'hang' | 'huge' | 'active-string' | 'redirect' | 'jwt';

export interface TestIdpOptions {
  /** Serve https with this CA's server certificate; without it, plain http on 127.0.0.1. */
  readonly ca?: TestCa;
  /** The public keys served at /jwks. */
  readonly jwks: JWK[];
  readonly clientId: string;
  /** client_secret_basic: the secret the client must send. */
  readonly clientSecret?: string;
  /** private_key_jwt: the client's public key its assertions must verify with. */
  readonly clientPublicJwk?: JWK;
  /** The private key signing RFC 9701 answers (mode `jwt`); its public part should be in `jwks`. */
  readonly answerKey?: JWK;
}

export interface TestIdp {
  /** The issuer, `https://127.0.0.1:PORT` (or http): discovery is `${issuer}/.well-known/openid-configuration`. */
  readonly issuer: string;
  readonly introspectionUrl: string;
  /** Requests seen per endpoint. */
  readonly calls: { discovery: number; jwks: number; introspection: number };
  /** Opaque token → its active answer (without `active`); any other token is `active: false`. */
  readonly tokens: Map<string, Record<string, unknown>>;
  discovery: DiscoveryMode;
  introspection: IntrospectionMode;
  jwks: JWK[];
  /** Milliseconds before an introspection answer (widens the window concurrent Checks arrive in). */
  introspectionDelayMs: number;
  /** The client authentication of the last introspection request that passed it. */
  lastClientAuth: 'client_secret_basic' | 'private_key_jwt' | undefined;
  close(): Promise<void>;
}

const TEN_MIB = 10 * 1024 * 1024;

/**
 * A small identity provider for tests: discovery, JWKS and RFC 7662 introspection with client
 * authentication, each counted, and hostile answers on demand (issuer mismatch, plain-http
 * jwks_uri off loopback, redirects, 10 MiB bodies, non-JSON, answers that never finish, a
 * string `active`). Real sockets, real TLS when a CA is given.
 */
export async function startTestIdp(options: TestIdpOptions): Promise<TestIdp> {
  const hanging = new Set<ServerResponse>();
  const handler = (req: IncomingMessage, res: ServerResponse) => void handle(req, res).catch(() => res.destroy());
  const server: Server = options.ca ? createHttpsServer({ cert: options.ca.serverCertPem, key: options.ca.serverKeyPem }, handler) : createHttpServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `${options.ca ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientKey = options.clientPublicJwk && (await importJWK(options.clientPublicJwk, options.clientPublicJwk.alg));
  const answerKey = options.answerKey && (await importJWK(options.answerKey, options.answerKey.alg));

  const idp: TestIdp = {
    issuer,
    introspectionUrl: `${issuer}/introspect`,
    calls: { discovery: 0, jwks: 0, introspection: 0 },
    tokens: new Map(),
    discovery: 'normal',
    introspection: 'normal',
    jwks: options.jwks,
    introspectionDelayMs: 0,
    lastClientAuth: undefined,
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const json = (res: ServerResponse, status: number, body: unknown, type = 'application/json'): void =>
    void res.writeHead(status, { 'content-type': type }).end(typeof body === 'string' ? body : JSON.stringify(body));
  const hang = (res: ServerResponse) => {
    hanging.add(res);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"issuer": ');
  };
  const huge = (res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"pad": "');
    const chunk = 'x'.repeat(64 * 1024);
    for (let sent = 0; sent < TEN_MIB; sent += chunk.length) res.write(chunk);
    res.end('"}');
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const body = await readBody(req);
    if (path === '/.well-known/openid-configuration') {
      idp.calls.discovery++;
      const document = { issuer, jwks_uri: `${issuer}/jwks`, introspection_endpoint: idp.introspectionUrl, response_types_supported: ['code'] };
      switch (idp.discovery) {
        case 'issuer-mismatch':
          return json(res, 200, { ...document, issuer: `${issuer}/` });
        case 'http-jwks-off-loopback':
          return json(res, 200, { ...document, jwks_uri: 'http://idp.example.test/jwks' });
        case 'redirect':
          return void res.writeHead(302, { location: `${issuer}/elsewhere` }).end();
        case 'huge':
          return huge(res);
        case 'not-json':
          return json(res, 200, '<html>maintenance</html>', 'text/html');
        case 'hang':
          return hang(res);
        default:
          return json(res, 200, document);
      }
    }
    if (path === '/jwks') {
      idp.calls.jwks++;
      return json(res, 200, { keys: idp.jwks });
    }
    if (path === '/introspect' && req.method === 'POST') {
      idp.calls.introspection++;
      if (idp.introspectionDelayMs > 0) await new Promise((r) => setTimeout(r, idp.introspectionDelayMs));
      const form = new URLSearchParams(body);
      const auth = await clientAuthOf(req, form);
      if (auth === undefined) return json(res, 401, { error: 'invalid_client' });
      idp.lastClientAuth = auth;
      const token = form.get('token') ?? '';
      const known = idp.tokens.get(token);
      const answer = known === undefined ? { active: false } : { active: true, ...known };
      switch (idp.introspection) {
        case 'down':
          return json(res, 503, 'unavailable', 'text/plain');
        case 'hang':
          return hang(res);
        case 'huge':
          return huge(res);
        case 'redirect':
          return void res.writeHead(307, { location: `${issuer}/introspect-elsewhere` }).end();
        case 'active-string':
          return json(res, 200, { ...answer, active: String(answer.active) });
        case 'jwt': {
          const jwt = await new SignJWT({ token_introspection: answer })
            .setProtectedHeader({ alg: options.answerKey!.alg!, kid: options.answerKey!.kid, typ: 'token-introspection+jwt' })
            .setIssuer(issuer)
            .setAudience(options.clientId)
            .setIssuedAt()
            .sign(answerKey!);
          return json(res, 200, jwt, 'application/token-introspection+jwt');
        }
        default:
          return json(res, 200, answer);
      }
    }
    json(res, 404, { error: 'not_found' });
  }

  async function clientAuthOf(req: IncomingMessage, form: URLSearchParams): Promise<TestIdp['lastClientAuth']> {
    const basic = req.headers.authorization;
    if (basic?.startsWith('Basic ') && options.clientSecret !== undefined) {
      const [id, secret] = Buffer.from(basic.slice(6), 'base64').toString().split(':').map(decodeURIComponent);
      return id === options.clientId && secret === options.clientSecret ? 'client_secret_basic' : undefined;
    }
    const assertion = form.get('client_assertion');
    if (assertion !== null && clientKey !== undefined) {
      try {
        await jwtVerify(assertion, clientKey, { issuer: options.clientId, subject: options.clientId, audience: issuer });
        return form.get('client_id') === options.clientId ? 'private_key_jwt' : undefined;
      } catch {
        return undefined;
      }
    }
    return undefined;
  }

  return idp;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}
