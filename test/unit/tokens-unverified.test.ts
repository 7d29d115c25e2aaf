import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { issuerSchema, serviceTokensSchema } from '../../src/config/schema.js';
import type { RequestView } from '../../src/request/types.js';
import { ANONYMOUS, createCredentialDecoder, TokenError, type AuthContext, type CredentialDecoder, type TokenErrorCode } from '../../src/tokens/index.js';
import { IDP_ISSUER, MESH_ISSUER, MESH_PRIVATE_JWK, mint } from '../../testkit/tokens.js';

/*
 * Offline decoding for `authzctl policy replay`: the authenticator's sources, routing and
 * checks, with no keys, no signature check and no clock. Tokens are the example issuers'.
 */

function view(headers: Record<string, string>, sourcePrincipal = ''): RequestView {
  return {
    id: 'r',
    method: 'GET',
    host: 'h',
    path: '/',
    rawPath: '/',
    query: {},
    headers,
    repeatedHeaders: new Set(),
    sourceAddress: '',
    sourcePrincipal,
    contextExtensions: {},
  };
}

function outcome(decoder: CredentialDecoder, v: RequestView): AuthContext | TokenErrorCode {
  try {
    return decoder.decode(v);
  } catch (error) {
    assert.ok(error instanceof TokenError, String(error));
    return error.code;
  }
}

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
const keys = { nats: true as const };
const CHECKOUT = 'spiffe://cluster.local/ns/shop/sa/checkout';

describe('createCredentialDecoder', () => {
  const decoder = createCredentialDecoder({
    issuers: [
      issuerSchema.parse({ name: 'idp', issuer: IDP_ISSUER, audiences: ['orders'], algorithms: ['ES256'], keys }),
      issuerSchema.parse({ name: 'partner', issuer: 'https://partner.test', audiences: ['orders'], algorithms: ['ES256'], keys, typ: 'at+jwt' }),
    ],
    serviceTokens: serviceTokensSchema.parse({ trustDomain: 'cluster.local', keys }),
    service: 'orders',
  });
  let fresh: string;

  before(async () => {
    fresh = await mint({ scope: 'orders:read' }, { subject: 'alice' });
  });

  it('is anonymous without credentials, and takes the mTLS peer as the principal', () => {
    assert.equal(decoder.decode(view({})), ANONYMOUS);
    assert.deepEqual(decoder.decode(view({}, CHECKOUT)), { user: null, service: null, principal: CHECKOUT });
  });

  it('reads tokens whose time claims or signature the sidecar would refuse', async () => {
    const now = Math.floor(Date.now() / 1000);
    const tokens = [await mint({}, { ttlSeconds: -3600 }), await mint({ nbf: now + 3600 }), fresh.slice(0, fresh.lastIndexOf('.') + 1) + 'A'.repeat(86)];
    for (const token of tokens) {
      const auth = outcome(decoder, view(bearer(token)));
      assert.ok(typeof auth === 'object' && auth.user !== null, String(auth));
      assert.equal(auth.user.issuerName, 'idp');
      assert.equal(auth.user.subject, 'alice');
    }
    const auth = decoder.decode(view(bearer(fresh)));
    assert.deepEqual(auth.user?.scopes, ['orders:read']);
  });

  it('refuses what the sidecar refuses before or besides the signature and the clock', async () => {
    const cases: Array<[string, TokenErrorCode]> = [
      ['not.a.jwt', 'token_malformed'],
      [await mint({}, { audience: 'billing' }), 'token_audience_invalid'],
      [await mint({ scope: ['orders:read'] }), 'token_claims_invalid'],
      [await mint({}, { alg: 'HS256', secret: new Uint8Array(32) }), 'token_algorithm_not_allowed'],
      [await mint({}, { issuer: 'https://evil.test' }), 'token_issuer_unknown'],
      [await mint({}, { issuer: 'https://partner.test' }), 'token_type_invalid'],
    ];
    for (const [token, code] of cases) assert.equal(outcome(decoder, view(bearer(token))), code, code);
    assert.equal(outcome(decoder, view({ authorization: `Basic ${fresh}` })), 'credentials_malformed');
  });

  it('routes a shared source by iss, as the authenticator does', async () => {
    const partner = await mint({}, { issuer: 'https://partner.test', typ: 'at+jwt', subject: 'pat' });
    const auth = outcome(decoder, view(bearer(partner)));
    assert.ok(typeof auth === 'object');
    assert.equal(auth.user?.issuerName, 'partner');
  });

  it('reads a service token: its SPIFFE subject is the principal, outside the trust domain it is refused', async () => {
    const service = (subject: string) => mint({}, { jwk: MESH_PRIVATE_JWK, issuer: MESH_ISSUER, subject, ttlSeconds: -60 });
    const auth = outcome(decoder, view({ 'x-service-token': await service(CHECKOUT) }, 'spiffe://cluster.local/ns/shop/sa/other'));
    assert.ok(typeof auth === 'object');
    assert.equal(auth.principal, CHECKOUT);
    assert.equal(auth.service?.issuerName, 'service');
    assert.equal(outcome(decoder, view({ 'x-service-token': await service('spiffe://evil.test/ns/x/sa/y') })), 'token_claims_invalid');
  });
});
