/**
 * Same answers everywhere: thousands of generated requests (methods, paths with odd encodings,
 * tokens valid, expired, forged, for another audience, missing, duplicated; scopes and roles;
 * hosts; gateway service names) sent to one real sidecar over gRPC (Envoy's protos) and over
 * each HTTP convention. Each must get the same decision, the same reason code, the HTTP status
 * the convention maps that answer to, and the same identity headers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { METHODS } from 'node:http';
import { readFileSync } from 'node:fs';
import { EnvoyClient, envoyRequest, headerOf, httpStatus, type CheckResult } from '../../testkit/envoy-client.js';
import { CONVENTIONS, ForwardAuthClient, type AuthAnswer, type Convention, type OriginalRequest } from '../../testkit/forward-auth.js';
import { FIXTURES } from '../../testkit/paths.js';
import { startSidecar, type SidecarProcess } from '../../testkit/sidecar.js';
import { writeSidecarDir } from '../../testkit/sidecar-dir.js';
import { mint, mintService } from '../../testkit/tokens.js';

const REQUESTS = Number(process.env.HTTP_DIFFERENTIAL_REQUESTS ?? 5_000);
const SEED = Number(process.env.HTTP_DIFFERENTIAL_SEED ?? 0x5eed21);
const CONCURRENCY = 16;

const POLICY =
  readFileSync(`${FIXTURES}/conformance/policy.yaml`, 'utf8').trimEnd() +
  `
    - name: per-service
      action: ALLOW
      to: [{ paths: ["/svc/*"] }]
      when: 'context["service"] == "billing"'
`;

/** mulberry32: a small seeded generator, so a failure can be replayed with HTTP_DIFFERENTIAL_SEED. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BASES = [
  '/public',
  '/public/a/b',
  '/api/orders',
  '/api/orders/7',
  '/admin/users',
  '/legacy/report',
  '/tenant/t1',
  '/internal/reserve',
  '/img/logo.png',
  '/svc/x',
  '/ctx/a',
  '/',
];
const MUTATIONS: Array<(path: string) => string> = [
  (p) => p,
  (p) => p,
  (p) => p,
  (p) => p,
  (p) => p,
  (p) => p,
  (p) => `${p}?debug=1`,
  (p) => `${p}?a=b&c=%41`,
  (p) => `/${p}`,
  (p) => p.replace('/', '/./'),
  (p) => `${p}/../orders`,
  (p) => `/..${p}`,
  (p) => `${p}%2Fx`,
  (p) => `${p}%2fx`,
  (p) => `${p}%5Cx`,
  (p) => `${p}/%252e%252e/`,
  (p) => `${p};jsessionid=1`,
  (p) => `${p}%3Bx`,
  (p) => p.replace(/[a-z]/, (c) => `%${c.charCodeAt(0).toString(16)}`),
  (p) => `${p}%zz`,
  (p) => `${p}%00`,
  (p) => `${p}/`,
  (p) => `${p}/caf\u00e9`,
  (p) => `${p} x`,
  (p) => p.replace('/', ''),
  (p) => `${p}#frag`,
];
const METHOD_CHOICES = [
  'GET',
  'GET',
  'GET',
  'GET',
  'GET',
  'GET',
  'GET',
  'POST',
  'POST',
  'PUT',
  'DELETE',
  'PATCH',
  'HEAD',
  'OPTIONS',
  'PURGE',
  'get',
  'Delete',
  'FOO',
];
const HOSTS = ['orders.example.test', 'static.example.test', 'STATIC.Example.test', 'orders.example.test:8443'];

interface Tokens {
  readonly [name: string]: string;
}

async function mintTokens(): Promise<Tokens> {
  return {
    customer: await mint({ scope: 'orders:read', roles: ['customer'], tenant: 'acme' }),
    admin: await mint({ scope: 'orders:read', roles: ['admin'], tenant: 'acme' }),
    noScope: await mint({ scope: 'profile', roles: ['customer'], tenant: 'acme' }),
    globex: await mint({ scope: 'orders:read', roles: ['customer'], tenant: 'globex' }),
    expired: await mint({ scope: 'orders:read', roles: ['customer'] }, { ttlSeconds: -120 }),
    otherAudience: await mint({ scope: 'orders:read', roles: ['customer'] }, { audience: 'billing' }),
    altAudience: await mint({ scope: 'orders:read', roles: ['admin'], tenant: 'acme' }, { audience: 'orders-alt' }),
    unknownIssuer: await mint({ scope: 'orders:read' }, { issuer: 'https://evil.example.test' }),
  };
}

/** One original request: its credentials and headers as ordered pairs, repeated names allowed. */
function generate(next: () => number, tokens: Tokens, checkout: string): OriginalRequest & { pairs: Array<[string, string]> } {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)];
  const method = pick(METHOD_CHOICES);
  const path = pick(MUTATIONS)(pick(BASES));
  const host = pick(HOSTS);
  const pairs: Array<[string, string]> = [];
  const names = Object.keys(tokens);
  const credential = next();
  if (credential < 0.25) pairs.push(['authorization', `Bearer ${tokens.customer}`]);
  else if (credential < 0.45) pairs.push(['authorization', `Bearer ${tokens[pick(names)]}`]);
  else if (credential < 0.52) pairs.push(['cookie', `theme=dark; access_token=${tokens[pick(names)]}`]);
  else if (credential < 0.56) pairs.push(['authorization', `Bearer ${tokens.customer}`], ['authorization', `Bearer ${tokens.admin}`]);
  else if (credential < 0.59) pairs.push(['authorization', `Bearer ${tokens.customer}`], ['cookie', `access_token=${tokens.customer}`]);
  else if (credential < 0.62) pairs.push(['authorization', `Basic YWxpY2U6cHc=`]);
  else if (credential < 0.65) pairs.push(['authorization', `Bearer ${tokens.customer.slice(0, -4)}AAAA`]);
  else if (credential < 0.67) pairs.push(['authorization', 'Bearer not-a-jwt']);
  else if (credential < 0.72) pairs.push(['x-service-token', checkout]);
  const tenant = next();
  if (tenant < 0.6) pairs.push(['x-tenant-id', 'acme']);
  else if (tenant < 0.75) pairs.push(['x-tenant-id', 'globex']);
  pairs.push(['x-request-id', `diff-${Math.floor(next() * 1e9)}`]);
  if (next() < 0.1) pairs.push(['x-auth-subject', 'mallory']);
  return { method, path, host, pairs, ...(next() < 0.15 && { service: pick(['billing', 'orders']) }) };
}

/** Whether a proxy of `convention` can carry this request at all (node's client and server refuse what proxies never send). */
function sendable(convention: Convention, original: OriginalRequest): boolean {
  // Envoy's own path is origin-form visible ASCII, its method one node's parser knows (docs/http-mode.md).
  if (convention === 'envoy') return METHODS.includes(original.method) && /^\/[\x21-\x7e]*$/.test(original.path);
  // Header values: no control characters but tab.
  return /^[\t\x20-\x7e\x80-\xff]*$/.test(original.path);
}

interface Outcome {
  readonly decision: 'allow' | 'deny';
  readonly reason: string;
  readonly status: number;
  readonly subject: string | undefined;
}

function grpcOutcome(result: CheckResult): Outcome {
  return {
    decision: result.status.code === 0 ? 'allow' : 'deny',
    reason: result.dynamic_metadata?.fields.reason?.stringValue ?? '?',
    status: httpStatus(result),
    subject: headerOf(result.ok_response?.headers, 'x-auth-subject'),
  };
}

function httpOutcome(answer: AuthAnswer): Outcome {
  return {
    decision: answer.status === 200 ? 'allow' : 'deny',
    reason: String(answer.headers['x-authz-reason'] ?? '?'),
    status: answer.status,
    subject: answer.headers['x-auth-subject'] as string | undefined,
  };
}

/** What the HTTP status of a convention is for the gRPC answer's status. */
function expectedStatus(convention: Convention, status: number): number {
  if (convention !== 'nginx' || status === 200 || status === 401) return status;
  return 403;
}

describe('same answers over gRPC and every HTTP convention', () => {
  let sidecar: SidecarProcess;
  let grpc: EnvoyClient;
  let http: ForwardAuthClient;
  let tokens: Tokens;
  let checkout: string;

  before(async () => {
    const { configPath } = writeSidecarDir({ policy: POLICY, audiences: ['orders', 'orders-alt'], http: {} });
    sidecar = await startSidecar(configPath);
    grpc = new EnvoyClient(sidecar.grpcAddress);
    http = new ForwardAuthClient(sidecar.httpUrl!, CONCURRENCY);
    tokens = await mintTokens();
    checkout = await mintService('spiffe://cluster.local/ns/shop/sa/checkout');
  });
  after(async () => {
    grpc?.close();
    http?.close();
    await sidecar?.stop();
  });

  it(`decides ${REQUESTS.toLocaleString('en')} generated requests alike, with the same reason code`, async () => {
    const next = random(SEED);
    const originals = Array.from({ length: REQUESTS }, () => generate(next, tokens, checkout));
    const reasons = new Map<string, number>();
    const sent = new Map<Convention, number>(CONVENTIONS.map((c) => [c, 0]));
    const mismatches: string[] = [];
    let cursor = 0;
    const worker = async () => {
      while (cursor < originals.length) {
        const original = originals[cursor++];
        const { pairs, ...shape } = original;
        const headers: Record<string, string | string[]> = {};
        for (const [name, value] of pairs) headers[name] = name in headers ? [headers[name]].flat().concat(value) : value;
        const request = { ...shape, headers };
        const expected = grpcOutcome(
          await grpc.check(
            envoyRequest({
              method: original.method,
              path: original.path,
              host: original.host,
              rawHeaders: pairs,
              ...(original.service && { contextExtensions: { service: original.service } }),
            }),
          ),
        );
        reasons.set(expected.reason, (reasons.get(expected.reason) ?? 0) + 1);
        await Promise.all(
          CONVENTIONS.filter((convention) => sendable(convention, original)).map(async (convention) => {
            sent.set(convention, sent.get(convention)! + 1);
            const got = httpOutcome(await http.check(convention, request));
            const want = { ...expected, status: expectedStatus(convention, expected.status) };
            if (JSON.stringify(got) !== JSON.stringify(want) && mismatches.length < 10)
              mismatches.push(`${convention} ${JSON.stringify(request).slice(0, 300)}: gRPC ${JSON.stringify(want)}, HTTP ${JSON.stringify(got)}`);
          }),
        );
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    assert.deepEqual(mismatches, [], `seed ${SEED}`);
    // Not vacuous: allows and many kinds of deny, and most requests sent over each convention (Envoy carries fewer: no relative or non-ASCII paths, no methods node does not know).
    assert.ok((reasons.get('allowed_by_rule') ?? 0) > REQUESTS / 50, JSON.stringify([...reasons]));
    assert.ok(reasons.size >= 18, `only ${reasons.size} distinct reasons: ${JSON.stringify([...reasons])}`);
    for (const [convention, count] of sent) assert.ok(count > REQUESTS * 0.6, `${convention}: ${count} sent`);
  });
});
