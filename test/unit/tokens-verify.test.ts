import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { exportJWK, generateKeyPair, jwtVerify, importJWK, type CryptoKey } from 'jose';
import { createSecretKeySet, parseJwks, type KeyProvider, type KeySet } from '../../src/keys/index.js';
import { createJwtVerifier, TokenError, type JwtVerifierOptions, type TokenErrorCode } from '../../src/tokens/index.js';
import { hostileTokens, legitToken, signCompact, type HostileTokenContext, type SigningAlgorithm } from '../../testkit/hostile-tokens.js';

const ISSUER = 'https://idp.example.test';
const AUDIENCE = 'orders';

function provider(set: KeySet | undefined, reload?: () => KeySet): KeyProvider & { reloads: number } {
  let current = set;
  const p = {
    reloads: 0,
    current: () => current,
    available: () => current !== undefined,
    async reloadOnUnknownKey() {
      p.reloads++;
      if (!reload) return false;
      current = reload();
      return true;
    },
  };
  return p;
}

interface Fixture {
  readonly ctx: HostileTokenContext;
  readonly keys: KeyProvider;
}

async function fixture(alg: SigningAlgorithm, typ?: string, kid = `${alg.toLowerCase()}-1`): Promise<Fixture> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const set = await parseJwks(JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }] }));
  return { ctx: { privateKey, publicKey, alg, kid, issuer: ISSUER, audience: AUDIENCE, typ }, keys: provider(set) };
}

function verifier(f: Fixture, overrides: Partial<JwtVerifierOptions> = {}) {
  return createJwtVerifier({
    issuerName: 'idp',
    issuer: ISSUER,
    audiences: [AUDIENCE, 'other'],
    algorithms: [f.ctx.alg],
    clockSkewSeconds: 30,
    maxTokenBytes: 8192,
    typ: f.ctx.typ,
    keys: f.keys,
    ...overrides,
  });
}

async function refusedWith(promise: Promise<unknown>, code: TokenErrorCode, token: string): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof TokenError, `not a TokenError: ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.cause, undefined, 'no jose error (with the payload) as cause');
    for (const segment of token.split('.')) if (segment.length > 8) assert.ok(!e.message.includes(segment), 'no token text in the message');
    return true;
  });
}

describe('createJwtVerifier: legit tokens', () => {
  let es: Fixture;
  before(async () => {
    es = await fixture('ES256');
  });

  it('returns a frozen VerifiedToken', async () => {
    const v = await verifier(es).verify(legitToken(es.ctx, { jti: 'j1', aud: [AUDIENCE, 'x'], realm: { roles: ['a'] } }));
    assert.equal(v.issuerName, 'idp');
    assert.equal(v.issuer, ISSUER);
    assert.equal(v.subject, 'user-1');
    assert.deepEqual(v.audience, [AUDIENCE, 'x']);
    assert.equal(v.jti, 'j1');
    assert.deepEqual(v.scopes, ['orders:read']);
    assert.ok(Object.isFrozen(v) && Object.isFrozen(v.claims) && Object.isFrozen((v.claims.realm as { roles: string[] }).roles));
  });

  it('reads scopes from scope, else scp as array or string', async () => {
    assert.deepEqual((await verifier(es).verify(legitToken(es.ctx, { scope: ' a  b ' }))).scopes, ['a', 'b']);
    assert.deepEqual((await verifier(es).verify(legitToken(es.ctx, { scope: undefined, scp: ['x', 'y'] }))).scopes, ['x', 'y']);
    assert.deepEqual((await verifier(es).verify(legitToken(es.ctx, { scope: undefined, scp: 'x y' }))).scopes, ['x', 'y']);
    assert.deepEqual((await verifier(es).verify(legitToken(es.ctx, { scope: undefined }))).scopes, []);
    await refusedWith(verifier(es).verify(legitToken(es.ctx, { scope: ['a'] })), 'token_claims_invalid', '');
  });

  it('allows clock skew on exp, nbf and iat', async () => {
    const now = Math.floor(Date.now() / 1000);
    await verifier(es).verify(legitToken(es.ctx, { exp: now - 20, nbf: now + 20, iat: now + 20 }));
    await refusedWith(verifier(es, { clockSkewSeconds: 0 }).verify(legitToken(es.ctx, { iat: now + 20 })), 'token_issued_in_future', '');
  });

  it('uses the injected clock', async () => {
    const token = legitToken(es.ctx);
    const later = Date.now() + 3_600_000;
    await refusedWith(verifier(es, { now: () => later }).verify(token), 'token_expired', token);
  });

  it('accepts at+jwt in any case, with or without application/', async () => {
    const at = await fixture('ES256', 'at+jwt');
    for (const typ of ['at+jwt', 'AT+JWT', 'application/at+jwt']) await verifier(at).verify(legitToken(at.ctx, {}, { typ }));
  });

  it('selects a kid-less token only when one key fits', async () => {
    await verifier(es).verify(legitToken(es.ctx, {}, { kid: undefined }));
  });

  it('asks a remote set to reload on an unknown kid, once, then uses the new key', async () => {
    const next = await fixture('ES256', undefined, 'rotated');
    const keys = provider(es.keys.current(), () => next.keys.current()!);
    await verifier(es, { keys }).verify(legitToken(next.ctx));
    assert.equal(keys.reloads, 1);
    const none = provider(undefined);
    const token = legitToken(es.ctx);
    await refusedWith(verifier(es, { keys: none }).verify(token), 'keys_unavailable', token); // no set held: the source, not the token, is at fault
    assert.equal(none.reloads, 1);
  });

  it('verifies HS256 with a shared secret', async () => {
    const secret = Buffer.alloc(32, 9);
    const keys = provider(createSecretKeySet(secret, ['HS256']));
    const v = createJwtVerifier({
      issuerName: 'hs',
      issuer: ISSUER,
      audiences: [AUDIENCE],
      algorithms: ['HS256'],
      clockSkewSeconds: 30,
      maxTokenBytes: 8192,
      keys,
    });
    const claims = JSON.stringify({ iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 60 });
    await v.verify(signCompact('HS256', secret, '{"alg":"HS256"}', claims));
    const forged = signCompact('HS256', Buffer.alloc(32, 8), '{"alg":"HS256"}', claims);
    await refusedWith(v.verify(forged), 'token_signature_invalid', forged);
    const withKid = signCompact('HS256', secret, '{"alg":"HS256","kid":"k"}', claims);
    await refusedWith(v.verify(withKid), 'token_key_unknown', withKid);
  });

  it('refuses misconfiguration with TypeError', () => {
    assert.throws(() => verifier(es, { algorithms: ['none'] }), TypeError);
    assert.throws(() => verifier(es, { algorithms: [] }), TypeError);
    assert.throws(() => verifier(es, { audiences: [] }), TypeError);
    assert.throws(() => verifier(es, { maxTokenBytes: 0 }), TypeError);
  });
});

describe('createJwtVerifier: hostile tokens', () => {
  const setups: Array<[SigningAlgorithm, string | undefined]> = [
    ['ES256', undefined],
    ['ES256', 'at+jwt'],
    ['RS256', undefined],
    ['PS256', 'at+jwt'],
    ['EdDSA', undefined],
  ];
  for (const [alg, typ] of setups) {
    it(`refuses every hostile token for ${alg}${typ ? ` with typ ${typ}` : ''}`, async () => {
      const f = await fixture(alg, typ);
      const v = verifier(f);
      await v.verify(legitToken(f.ctx));
      const cases = hostileTokens({ ...f.ctx, allowedAlgorithms: [alg] });
      assert.ok(cases.length >= 25, `${cases.length} cases`);
      assert.equal(new Set(cases.map((c) => c.name)).size, cases.length, 'distinct names');
      assert.equal(new Set(cases.map((c) => c.token)).size, cases.length, 'distinct tokens');
      for (const c of cases) {
        await assert.rejects(
          v.verify(c.token),
          (e: unknown) => {
            assert.ok(e instanceof TokenError, `${c.name}: ${String(e)}`);
            assert.equal(e.code, c.expectCode, c.name);
            return true;
          },
          c.name,
        );
      }
    });
  }

  it('covers the cases the brief names', async () => {
    const f = await fixture('ES256', 'at+jwt');
    const names = hostileTokens(f.ctx).map((c) => c.name);
    for (const n of [
      'alg noNE',
      'HS256 keyed with the public key PEM',
      'attacker key under the legit kid',
      'embedded jwk (attacker key)',
      'jku',
      'x5u',
      'kid path traversal',
      'unknown crit extension',
      'b64 false (unencoded payload)',
      'expired',
      'nbf in the future',
      'iat in the future',
      'exp missing',
      'exp a string',
      'wrong aud',
      'empty aud array',
      'wrong iss',
      'all-zero signature',
      'ECDSA signature in DER form',
      'payload swapped from another valid token',
      'oversize',
      '4 segments',
      '2 segments',
      'duplicate alg in header',
      'duplicate sub in payload',
      'payload not JSON',
      'payload a JSON array',
      'RS256 not in the allow-list',
      'typ wrong',
    ])
      assert.ok(names.includes(n), n);
  });

  it('checks the size before decoding anything', async () => {
    const f = await fixture('ES256');
    const garbage = '!'.repeat(8193);
    await refusedWith(verifier(f).verify(garbage), 'token_too_large', garbage);
    await refusedWith(verifier(f).verify('!'.repeat(100)), 'token_malformed', '');
  });

  it('is backed by jose refusing crit and b64 on its own', async () => {
    // Our header check refuses these first; jose is the second line.
    const f = await fixture('ES256');
    const key = (await importJWK(await exportJWK(f.ctx.publicKey as CryptoKey), 'ES256')) as CryptoKey;
    const byName = new Map(hostileTokens(f.ctx).map((c) => [c.name, c.token]));
    await assert.rejects(jwtVerify(byName.get('unknown crit extension')!, key), { code: 'ERR_JOSE_NOT_SUPPORTED' });
    await assert.rejects(jwtVerify(byName.get('b64 false (unencoded payload)')!, key), (e: unknown) => e instanceof Error && 'code' in e);
    await jwtVerify(legitToken(f.ctx), key);
  });
});
