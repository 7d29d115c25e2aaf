import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { importJWK } from 'jose';
import { startConformanceEnv, type ConformanceEnv } from '../../testkit/conformance-env.js';
import { denyBody, envoyRequest, headerOf, httpStatus } from '../../testkit/envoy-client.js';
import { hostileTokens, type HostileToken } from '../../testkit/hostile-tokens.js';
import { AUDIENCE, IDP_ISSUER, IDP_PRIVATE_JWK } from '../../testkit/tokens.js';

/**
 * Every hostile token, sent through Envoy's wire format to the real sidecar on a route a
 * valid token would be allowed on, must get 401 invalid_token with its specific reason —
 * never an allow, never "anonymous" (which would be 401 credentials_missing).
 */
describe('hostile tokens are answered 401 by the real sidecar', () => {
  let env: ConformanceEnv;
  let tokens: HostileToken[];
  before(async () => {
    env = await startConformanceEnv();
    const { d: _d, ...publicJwk } = IDP_PRIVATE_JWK;
    tokens = hostileTokens({
      privateKey: (await importJWK(IDP_PRIVATE_JWK, 'ES256', { extractable: true })) as CryptoKey,
      publicKey: (await importJWK(publicJwk, 'ES256', { extractable: true })) as CryptoKey,
      alg: 'ES256',
      kid: IDP_PRIVATE_JWK.kid!,
      issuer: IDP_ISSUER,
      audience: AUDIENCE,
      allowedAlgorithms: ['ES256'],
    });
  });
  after(async () => {
    await env.close();
  });

  it('has at least 25 distinct hostile tokens', () => {
    assert.ok(new Set(tokens.map((t) => t.name)).size >= 25, `only ${tokens.length}`);
  });

  it('refuses each with 401, WWW-Authenticate invalid_token and the expected reason code', async () => {
    const failures: string[] = [];
    for (const { name, token, expectCode } of tokens) {
      const sources: Array<Record<string, string>> = [{ authorization: `Bearer ${token}` }, { cookie: `access_token=${token}` }];
      for (const headers of sources) {
        const result = await env.client.check(envoyRequest({ path: '/public/x', headers }));
        const reason = denyBody(result).reason;
        const challenge = headerOf(result.denied_response?.headers, 'www-authenticate');
        // Authorization is shared by several issuers and routed by `iss`, so a foreign `iss`
        // there finds no issuer at all; the cookie belongs to one issuer, which refuses it.
        const expected = reason === expectCode || (expectCode === 'token_issuer_invalid' && 'authorization' in headers && reason === 'token_issuer_unknown');
        if (result.status.code !== 16 || httpStatus(result) !== 401 || !expected || !challenge?.includes('error="invalid_token"'))
          failures.push(
            `${name} via ${Object.keys(headers)[0]}: grpc ${result.status.code}, http ${httpStatus(result)}, reason ${reason}, expected ${expectCode}`,
          );
      }
    }
    assert.deepEqual(failures, []);
  });

  it('still allows the legitimate token built the same way (the hostile ones fail for their flaw alone)', async () => {
    const { legitToken } = await import('../../testkit/hostile-tokens.js');
    const ctx = {
      privateKey: (await importJWK(IDP_PRIVATE_JWK, 'ES256', { extractable: true })) as CryptoKey,
      publicKey: (await importJWK({ ...IDP_PRIVATE_JWK, d: undefined }, 'ES256', { extractable: true })) as CryptoKey,
      alg: 'ES256' as const,
      kid: IDP_PRIVATE_JWK.kid!,
      issuer: IDP_ISSUER,
      audience: AUDIENCE,
    };
    const result = await env.client.check(envoyRequest({ path: '/public/x', headers: { authorization: `Bearer ${legitToken(ctx)}` } }));
    assert.equal(result.status.code, 0);
  });
});
