/**
 * CheckRequest fuzzing: Envoy-shaped requests built field by field (every header name and
 * value shape, huge header counts, deep and odd paths, invalid UTF-8 in raw_value, missing
 * sub-messages), byte-level mutations of their encodings, and random bytes — all through the
 * sidecar's own pipeline: decodeCheckRequest → Check handler → encodeCheckResponse, with the
 * answer read back by Envoy's protos.
 */
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { issuerSchema } from '../../src/config/schema.js';
import type { CheckRequest__Output } from '../../src/generated/envoy/service/auth/v3/CheckRequest.js';
import { createCheckHandler, type CheckHandler } from '../../src/grpc/check.js';
import { IdentityHeaders } from '../../src/grpc/identity-headers.js';
import { decodeCheckRequest, encodeCheckResponse, WireError } from '../../src/grpc/wire/index.js';
import { KeyStore } from '../../src/keys/index.js';
import { compilePolicyText } from '../../src/policy/index.js';
import { buildRequestView } from '../../src/request/index.js';
import { createAuthenticator } from '../../src/tokens/index.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { EXAMPLES } from '../../testkit/paths.js';
import { mint } from '../../testkit/tokens.js';
import { decodeEnvoyResponse, judgeResponse, type Judged } from './envoy-codec.js';

/** The policy every request fuzzer runs against (also written to disk for the real binary). */
export const FUZZ_POLICY = `apiVersion: authz-sidecar/v1
kind: Policy
metadata: { name: fuzz, service: orders }
spec:
  defaultAction: DENY
  rules:
    - name: public
      action: ALLOW
      to: [{ methods: [GET], paths: ["/public", "/public/*"] }]
    - name: blocked
      action: DENY
      to: [{ paths: ["/public/blocked/*"] }]
    - name: read-orders
      action: ALLOW
      to: [{ methods: [GET], paths: ["/api/orders", "/api/orders/*"] }]
      from: [{ issuers: ["https://idp.example.test"] }]
      require: { scopes: ["orders:read"] }
`;

/** Request limits of the fuzzed sidecar (small, so "beyond the limit" is cheap to generate). */
export const LIMITS = { maxHeaders: 48, maxHeaderBytes: 8192 };

export interface Pipeline {
  /** The one token that may open /api/orders (ES256, scope orders:read). */
  readonly validToken: string;
  /** Decoded-request → response, as the server's Check callback sees it. */
  readonly check: CheckHandler;
  /** Bytes → the server's decoder, handler and encoder → Envoy's reading of the answer; 'undecodable' when the decoder refuses (the server answers INTERNAL). */
  run(bytes: Buffer): Promise<{ judged: Judged } | { undecodable: WireError }>;
  close(): void;
}

export async function startPipeline(): Promise<Pipeline> {
  const issuer = issuerSchema.parse({
    name: 'idp',
    issuer: 'https://idp.example.test',
    audiences: ['orders'],
    algorithms: ['ES256'],
    keys: { file: `${EXAMPLES}/keys/idp.jwks.json` },
    from: [{ header: 'authorization', prefix: 'Bearer ' }, { cookie: 'access_token' }],
    claimsToHeaders: { tenant: 'x-tenant-id' },
  });
  const store = new KeyStore({ name: 'idp', source: issuer.keys!, algorithms: issuer.algorithms, pollIntervalMs: 3_600_000 });
  await store.start();
  const authenticator = createAuthenticator({ issuers: [issuer], service: 'orders', keyStores: { issuers: new Map([['idp', store]]) }, cacheMaxEntries: 1000 });
  const policy = compilePolicyText(FUZZ_POLICY, 'fuzz-policy.yaml', { service: 'orders' });
  const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
  const check = createCheckHandler({
    service: 'orders',
    buildView: (request) => buildRequestView(request, LIMITS),
    authenticate: (view) => authenticator.authenticate(view),
    services: { select: () => ({ name: 'orders', policies: { current: () => policy } }) },
    identity: new IdentityHeaders([issuer]),
    metrics: new Metrics(),
    log: createLogger('info', discard),
    logAllows: false,
    denyLinesPerSecond: 10,
  });
  const validToken = await mint({ scope: 'orders:read', tenant: 'acme' }, { ttlSeconds: 4 * 3600 });
  const secrets = [validToken, ...validToken.split('.')];

  async function run(bytes: Buffer): Promise<{ judged: Judged } | { undecodable: WireError }> {
    let request: CheckRequest__Output;
    try {
      request = decodeCheckRequest(bytes);
    } catch (error) {
      if (error instanceof WireError) return { undecodable: error };
      throw error;
    }
    const response = await check(request);
    return { judged: judgeResponse(decodeEnvoyResponse(encodeCheckResponse(response)), secrets) };
  }

  return { validToken, check, run, close: () => (authenticator.stop(), store.stop()) };
}

// ---------------------------------------------------------------------------------------------
// Generators. Token-bearing values are built from a placeholder replaced by the real token
// when the case runs, so shrunk counterexamples stay readable.

export const TOKEN = '<valid-token>';
const withToken = (text: string, token: string) => text.split(TOKEN).join(token);

const loneSurrogates = fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 3 });
const anyText = (maxLength: number) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.string({ unit: 'binary-ascii', maxLength }) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength }) },
    { weight: 1, arbitrary: loneSurrogates },
  );

const headerName = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      'authorization',
      'Authorization',
      'AUTHORIZATION',
      'cookie',
      'Cookie',
      'x-request-id',
      ':method',
      ':path',
      ':authority',
      'host',
      'content-type',
      'x-auth-subject',
      'x-tenant-id',
      'x-forwarded-for',
      'user-agent',
      'x-service-token',
    ),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '',
      ' authorization',
      'authorization ',
      'author\u0131zation',
      '\u212Aey',
      'author:ization',
      ':',
      '::path',
      'a\u0000b',
      'x\r\ny',
      '__proto__',
      'constructor',
      'toString',
      'hasOwnProperty',
    ),
  },
  {
    weight: 4,
    arbitrary: fc.string({ unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789-_.!#$%&'*+^`|~".split('')), minLength: 1, maxLength: 24 }),
  },
  { weight: 2, arbitrary: anyText(16) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 9000 }).map((n) => 'x'.repeat(n)) },
);

const tokenValue = fc.oneof(
  fc.constantFrom(
    `Bearer ${TOKEN}`,
    `bearer ${TOKEN}`,
    `BEARER   ${TOKEN}`,
    ` Bearer ${TOKEN}\t`,
    `Bearer ${TOKEN},Bearer ${TOKEN}`,
    `Bearer ${TOKEN} ${TOKEN}`,
    TOKEN,
    `Basic ${TOKEN}`,
    `Bearer`,
    `Bearer `,
    `access_token=${TOKEN}`,
    `access_token="${TOKEN}"`,
    `a=b; access_token=${TOKEN}`,
    `access_token=${TOKEN}; access_token=${TOKEN}`,
    `access_token=`,
    `Bearer ${TOKEN}x`,
    `Bearer x${TOKEN}`,
    `Bearer ${TOKEN}.`,
  ),
  fc
    .tuple(fc.constantFrom('Bearer ', 'access_token=', ''), fc.string({ unit: fc.constantFrom(...'ABCabc012-_.=+/ '.split('')), maxLength: 60 }))
    .map(([p, t]) => p + t),
);

const headerValue = fc.oneof(
  { weight: 4, arbitrary: anyText(40) },
  { weight: 3, arbitrary: tokenValue },
  { weight: 1, arbitrary: fc.constantFrom('GET', 'get', 'POST', '/public', '/api/orders', 'orders.example.test', 'a\r\nb', 'a\u0000b', '\n', ' ', '') },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 12_000 }).map((n) => 'v'.repeat(n)) },
);

const rawBytes = fc.oneof(
  fc.uint8Array({ maxLength: 48 }),
  tokenValue.map((v) => Buffer.from(v, 'latin1')),
  fc
    .tuple(
      tokenValue,
      fc.uint8Array({ minLength: 1, maxLength: 4 }).map((b) => b.map((x) => x | 0x80)),
    )
    .map(([v, tail]) => Buffer.concat([Buffer.from(v, 'latin1'), tail])),
  fc.constantFrom(
    Buffer.from([0xc3, 0x28]),
    Buffer.from([0xed, 0xa0, 0x80]),
    Buffer.from([0xff, 0xfe]),
    Buffer.from([0xf4, 0x90, 0x80, 0x80]),
    Buffer.from([0x00]),
    Buffer.from('\r\n'),
  ),
);

interface HeaderEntry {
  key?: string;
  value?: string;
  raw_value?: Uint8Array;
}
const headerEntry: fc.Arbitrary<HeaderEntry> = fc.oneof(
  fc.record({ key: headerName, value: headerValue }),
  fc.record({ key: headerName, raw_value: rawBytes }),
  fc.record({ key: headerName, value: headerValue, raw_value: rawBytes }, { requiredKeys: [] }),
);

const pathSegment = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.constantFrom(
      'public',
      'api',
      'orders',
      'blocked',
      'admin',
      '7',
      '..',
      '.',
      '',
      '%2e%2e',
      '%2E.',
      '.%2e',
      '%2F',
      '%2f',
      '%5C',
      '\\',
      ';',
      'a;b',
      '%3B',
      '%70ublic',
      'PUBLIC',
      'Public',
      '%6Frders',
      'a b',
      '%',
      '%z',
      '%zz',
      '%00',
      '%u002e',
      '\u00e9',
      '\u0000',
      '\t',
      '~',
      '*',
      '?',
      '#',
      '%3F',
      '%23',
      '%25',
      '%252e%252e',
      'x'.repeat(300),
    ),
  },
  { weight: 2, arbitrary: fc.string({ unit: fc.constantFrom(..."abcABC019-._~!$&'()*+,=:@%".split('')), maxLength: 10 }) },
  { weight: 1, arbitrary: anyText(8) },
);

const rawPath = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(
        fc.constantFrom('/', '', '//', '/./', 'http://x/', '*'),
        fc.array(pathSegment, { maxLength: 8 }),
        fc.constantFrom('/', '//', '/./', '/../'),
        fc.option(fc.string({ maxLength: 30 }), { nil: undefined }),
        fc.option(anyText(10), { nil: undefined }),
      )
      .map(
        ([lead, segments, sep, query, fragment]) =>
          lead + segments.join(sep) + (query === undefined ? '' : `?${query}`) + (fragment === undefined ? '' : `#${fragment}`),
      ),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.integer({ min: 50, max: 3000 }), fc.constantFrom('a/', '../', './', '%2e%2e/', '/')).map(([n, s]) => `/public/${s.repeat(n)}`),
  },
  { weight: 1, arbitrary: fc.integer({ min: 4000, max: 9000 }).map((n) => `/public/${'p'.repeat(n)}`) },
  { weight: 1, arbitrary: anyText(40) },
);

const method = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('GET', 'get', 'Get', 'POST', 'DELETE', 'PUT', 'HEAD', 'OPTIONS', 'CONNECT', 'TRACE', 'PATCH') },
  { weight: 2, arbitrary: fc.constantFrom('', ' GET', 'GET ', 'G ET', 'G\u0000T', 'G\u00c9T', 'GE\u0131', 'get\n', 'M-SEARCH', 'x'.repeat(200)) },
  { weight: 1, arbitrary: anyText(12) },
);

const stringMap = (keys: fc.Arbitrary<string>, values: fc.Arbitrary<string>, maxKeys: number) => fc.dictionary(keys, values, { maxKeys });

/** Header counts up to the limit, and beyond it (a few hundred entries). */
const headerMapEntries = fc.oneof(
  { weight: 8, arbitrary: fc.array(headerEntry, { maxLength: 8 }) },
  { weight: 1, arbitrary: fc.array(headerEntry, { minLength: LIMITS.maxHeaders - 4, maxLength: LIMITS.maxHeaders + 4 }) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.integer({ min: 50, max: 600 }), headerEntry).map(([n, e]) => Array.from({ length: n }, (_, i) => ({ ...e, key: `x-h${i}` }))),
  },
);

const httpRequest = fc.record(
  {
    id: anyText(20),
    method,
    path: rawPath,
    host: fc.oneof(fc.constantFrom('orders.example.test', 'ORDERS.example.test', '', 'a b', 'h\u00e9', 'h:80', '[::1]:8080'), anyText(20)),
    scheme: fc.constantFrom('http', 'https', ''),
    protocol: fc.constantFrom('HTTP/1.1', 'HTTP/2', ''),
    query: fc.string({ maxLength: 10 }),
    fragment: fc.string({ maxLength: 5 }),
    size: fc.bigInt({ min: -1n, max: 1n << 40n }).map(String),
    body: fc.string({ maxLength: 20 }),
    raw_body: fc.uint8Array({ maxLength: 20 }),
    headers: fc.oneof({ weight: 4, arbitrary: stringMap(headerName, headerValue, 8) }, { weight: 1, arbitrary: stringMap(headerName, headerValue, 80) }),
    header_map: fc.record({ headers: headerMapEntries }, { requiredKeys: [] }),
  },
  { requiredKeys: [] },
);

const peer = fc.record(
  {
    address: fc.record(
      { socket_address: fc.record({ address: anyText(20), port_value: fc.nat(70000).map((n) => n & 0xffffffff) }, { requiredKeys: [] }) },
      { requiredKeys: [] },
    ),
    principal: fc.oneof(fc.constantFrom('', 'spiffe://cluster.local/ns/shop/sa/checkout'), anyText(30)),
    service: fc.string({ maxLength: 8 }),
    labels: stringMap(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), 3),
  },
  { requiredKeys: [] },
);

/** Any part possibly missing or odd. */
const anyCheckRequest = fc.record(
  {
    attributes: fc.record(
      {
        source: peer,
        destination: peer,
        request: fc.record(
          { time: fc.record({ seconds: fc.bigInt({ min: 0n, max: 1n << 40n }).map(String), nanos: fc.nat(999_999_999) }), http: httpRequest },
          { requiredKeys: [] },
        ),
        context_extensions: stringMap(anyText(8), anyText(8), 4),
        metadata_context: fc.constant({}),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);

const plausibleName = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom('authorization', 'Authorization', 'cookie', 'x-request-id', 'x-tenant-id', 'x-auth-subject', 'user-agent', ':method', ':path'),
  },
  { weight: 2, arbitrary: fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-'.split('')), minLength: 1, maxLength: 16 }) },
);
const plausibleValue = fc.oneof(
  { weight: 3, arbitrary: tokenValue },
  { weight: 2, arbitrary: fc.string({ unit: fc.constantFrom(...' !"#$%&()*+,-./0123456789:;<=>?@ABCXYZ[]^_`abcxyz{|}~'.split('')), maxLength: 30 }) },
  { weight: 1, arbitrary: headerValue },
);

/** A request that passes the request checks more often than not, so credentials and policy get fuzzed too. */
const plausibleCheckRequest = fc
  .record({
    method: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('GET', 'get', 'POST', 'DELETE') }, { weight: 1, arbitrary: method }),
    path: fc.oneof(
      {
        weight: 3,
        arbitrary: fc
          .tuple(
            fc.constantFrom('/public', '/api/orders', '/public/blocked', '/admin', ''),
            fc.array(pathSegment, { maxLength: 3 }),
            fc.option(fc.string({ maxLength: 12 }), { nil: undefined }),
          )
          .map(([base, segments, query]) => `${base}/${segments.join('/')}${query === undefined ? '' : `?${query}`}`),
      },
      { weight: 1, arbitrary: rawPath },
    ),
    host: fc.constantFrom('orders.example.test', 'ORDERS.EXAMPLE.TEST', ''),
    form: fc.constantFrom('headers' as const, 'header_map' as const, 'both' as const),
    entries: fc.array(fc.tuple(plausibleName, plausibleValue, fc.boolean()), { maxLength: 10 }),
    principal: fc.constantFrom('', 'spiffe://cluster.local/ns/shop/sa/checkout'),
  })
  .map(({ method: m, path, host, form, entries, principal }) => {
    const http: Record<string, unknown> = { id: '7', method: m, path, host };
    if (form !== 'header_map') http.headers = Object.fromEntries(entries.map(([k, v]) => [k, v]));
    if (form !== 'headers')
      http.header_map = { headers: entries.map(([key, v, raw]) => (raw ? { key, raw_value: Buffer.from(v, 'latin1') } : { key, value: v })) };
    return { attributes: { source: { principal }, request: { http } } };
  });

/** An Envoy CheckRequest object (proto-loader shape). */
export const envoyCheckRequest: fc.Arbitrary<unknown> = fc.oneof({ weight: 1, arbitrary: anyCheckRequest }, { weight: 1, arbitrary: plausibleCheckRequest });

/** Replaces the token placeholder everywhere in a generated request. */
export function materialize(request: unknown, token: string): unknown {
  if (typeof request === 'string') return withToken(request, token);
  if (request instanceof Uint8Array) {
    const text = Buffer.from(request).toString('latin1');
    return text.includes(TOKEN) ? Buffer.from(withToken(text, token), 'latin1') : request;
  }
  if (Array.isArray(request)) return request.map((item) => materialize(item, token));
  if (typeof request === 'object' && request !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(request))
      Object.defineProperty(out, withToken(key, token), { value: materialize(value, token), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return request;
}

/** Every (name, value) pair a generated request carries, from both header forms, plus method and path candidates. */
export function requestFacts(request: any): { pairs: Array<[string, string]>; methods: string[]; paths: string[] } {
  const http = request?.attributes?.request?.http ?? {};
  const pairs: Array<[string, string]> = [];
  for (const [k, v] of Object.entries((http.headers ?? {}) as Record<string, string>)) pairs.push([k, v]);
  for (const e of (http.header_map?.headers ?? []) as HeaderEntry[]) {
    pairs.push([e.key ?? '', e.value ?? '']);
    if (e.raw_value) pairs.push([e.key ?? '', Buffer.from(e.raw_value).toString('latin1')]);
  }
  const named = (name: string) => pairs.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v);
  return { pairs, methods: [http.method ?? '', ...named(':method')], paths: [http.path ?? '', ...named(':path')] };
}

const decodedLower = (path: string) => {
  let text = path;
  for (let i = 0; i < 3; i++) text = text.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return text.toLowerCase();
};

/**
 * Allows must be explainable without the sidecar's code: the only allow rules are `public`
 * (GET, a path about /public) and `read-orders` (GET, a path about /api/orders, the valid
 * token in an Authorization or Cookie header). Throws naming the broken rule.
 */
export function checkAllowIsJustified(judged: Judged, request: unknown, token: string): void {
  if (!judged.allow) return;
  const facts = requestFacts(request);
  // Exactly GET: a lower-case spelling is refused, never matched against a GET rule.
  const get = facts.methods.some((m) => m === 'GET');
  const about = (word: string) => facts.paths.some((p) => decodedLower(p).includes(word));
  const carriesToken = facts.pairs.some(([k, v]) => ['authorization', 'cookie'].includes(k.toLowerCase()) && v.includes(token));
  if (judged.rule === 'public' && get && about('/public')) return;
  if (judged.rule === 'read-orders' && get && about('/api/orders') && carriesToken) return;
  throw new Error(
    `allowed by rule ${judged.rule} without grounds (GET: ${get}, valid token: ${carriesToken}, paths: ${JSON.stringify(facts.paths).slice(0, 200)})`,
  );
}

// ---------------------------------------------------------------------------------------------
// Requests whose decision is known exactly.

export interface CleanCase {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly token: 'none' | 'valid' | 'mutated';
  readonly mutation: { index: number; char: string };
  readonly via: 'headers' | 'header_map' | 'cookie';
  readonly extra: Record<string, string>;
}

export const cleanCase: fc.Arbitrary<CleanCase> = fc.record({
  method: fc.constantFrom('GET' as const, 'POST' as const),
  path: fc.constantFrom(
    '/public',
    '/public/x',
    '/public/blocked/x',
    '/api/orders',
    '/api/orders/7',
    '/api/orders?x=1',
    '/admin/x',
    '/api/ordersx',
    '/',
    '/public/../api/orders',
    '/%70ublic',
  ),
  token: fc.constantFrom('none' as const, 'valid' as const, 'mutated' as const),
  mutation: fc.record({ index: fc.nat(), char: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('')) }),
  via: fc.constantFrom('headers' as const, 'header_map' as const, 'cookie' as const),
  extra: fc.dictionary(
    fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'.split('')), minLength: 3, maxLength: 10 }).map((s) => `x-${s}`),
    fc.string({ unit: fc.constantFrom(...'abc XYZ019-_./'.split('')), maxLength: 20 }),
    { maxKeys: 4 },
  ),
});

/** The request of a clean case and its exact expected answer. */
export function cleanRequest(c: CleanCase, validToken: string): { request: unknown; expect: { allow: boolean; reason: string; rule?: string } } {
  let token = validToken;
  if (c.token === 'mutated') {
    const i = c.mutation.index % token.length;
    token = token.slice(0, i) + (token[i] === c.mutation.char ? (c.mutation.char === 'A' ? 'B' : 'A') : c.mutation.char) + token.slice(i + 1);
  }
  const credential: Record<string, string> =
    c.token === 'none' ? {} : c.via === 'cookie' ? { cookie: `access_token=${token}` } : { authorization: `Bearer ${token}` };
  const headers = { ':method': c.method, ':path': c.path, ':authority': 'orders.example.test', 'x-request-id': 'fuzz-1', ...c.extra, ...credential };
  const http: Record<string, unknown> = { id: '1', method: c.method, path: c.path, host: 'orders.example.test' };
  if (c.via === 'header_map') http.header_map = { headers: Object.entries(headers).map(([key, value]) => ({ key, raw_value: Buffer.from(value) })) };
  else http.headers = headers;
  const request = { attributes: { request: { http } } };

  const pathOnly = c.path.split('?')[0];
  const normalized = pathOnly === '/public/../api/orders' ? '/api/orders' : pathOnly === '/%70ublic' ? '/public' : pathOnly;
  const publicPath = normalized === '/public' || normalized === '/public/x';
  const ordersPath = normalized === '/api/orders' || normalized === '/api/orders/7';
  const blocked = normalized === '/public/blocked/x';
  if (c.token === 'mutated') return { request, expect: { allow: false, reason: 'token_*' } };
  const authenticated = c.token === 'valid';
  const denied = (reason: string) => ({ request, expect: { allow: false, reason: authenticated ? reason : 'credentials_missing' } });
  // `blocked` looks at no identity: everyone, signed in or not, gets its 403.
  if (blocked) return { request, expect: { allow: false, reason: 'denied_by_rule', rule: 'blocked' } };
  if (c.method === 'GET' && publicPath) return { request, expect: { allow: true, reason: 'allowed_by_rule', rule: 'public' } };
  if (c.method === 'GET' && ordersPath && authenticated) return { request, expect: { allow: true, reason: 'allowed_by_rule', rule: 'read-orders' } };
  return denied('default_deny');
}

// ---------------------------------------------------------------------------------------------
// Byte-level mutation of an encoded request.

export type ByteEdit =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; byte: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; length: number }
  | { op: 'truncate'; at: number }
  | { op: 'duplicate'; at: number; length: number }
  | { op: 'varint'; at: number; bytes: Uint8Array };

export const byteEdits: fc.Arbitrary<ByteEdit[]> = fc.array(
  fc.oneof(
    fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
    fc.record({
      op: fc.constant('set' as const),
      at: fc.nat(),
      byte: fc.constantFrom(0x00, 0x01, 0x02, 0x07, 0x08, 0x0a, 0x0b, 0x0c, 0x12, 0x1a, 0x22, 0x6a, 0x7f, 0x80, 0xff),
    }),
    fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }),
    fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
    // An overlong or huge varint where a length or tag was.
    fc.record({
      op: fc.constant('varint' as const),
      at: fc.nat(),
      bytes: fc.constantFrom(
        Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f]),
        Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
        Uint8Array.from([0x80, 0x00]),
        Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
      ),
    }),
  ),
  { minLength: 1, maxLength: 6 },
);

export function applyByteEdits(input: Buffer, edits: readonly ByteEdit[]): Buffer {
  let buf = Buffer.from(input);
  for (const e of edits) {
    const at = buf.length === 0 ? 0 : e.at % buf.length;
    switch (e.op) {
      case 'flip':
        if (buf.length > 0) buf[at] ^= 1 << e.bit;
        break;
      case 'set':
        if (buf.length > 0) buf[at] = e.byte;
        break;
      case 'insert':
        buf = Buffer.concat([buf.subarray(0, at), e.bytes, buf.subarray(at)]);
        break;
      case 'delete':
        buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + e.length)]);
        break;
      case 'truncate':
        buf = buf.subarray(0, at);
        break;
      case 'duplicate':
        buf = Buffer.concat([buf.subarray(0, at + e.length), buf.subarray(at)]);
        break;
      case 'varint':
        buf = Buffer.concat([buf.subarray(0, at), e.bytes, buf.subarray(at + 1)]);
        break;
    }
  }
  return buf;
}

/** Deep nesting: a CheckRequest whose field 1 holds itself `depth` times (refused as too deep, never a stack overflow). */
export function nestedBytes(depth: number, tag: number): Buffer {
  let inner: Buffer = Buffer.alloc(0);
  for (let i = 0; i < depth; i++) inner = Buffer.concat([Buffer.from([tag]), varint(inner.length), inner]);
  return inner;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}
