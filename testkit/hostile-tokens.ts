/**
 * Hostile JWTs for one legit issuer, each with the TokenError code it must be refused with.
 * Used by the token unit tests and by the end-to-end conformance test against the real
 * sidecar (the codes are the deny `reason`). Tokens are assembled by hand and signed with
 * node:crypto so every byte is what the case says (duplicate members, raw signatures),
 * and the generator is synchronous.
 *
 * Assumes the issuer is configured with `ctx.allowedAlgorithms` (default: `[ctx.alg]`, no
 * HS*), `ctx.typ` as its required typ (if any), and is the only issuer reading the source
 * the token is sent in (with several issuers on one source, "wrong iss" is `token_issuer_unknown`).
 */
import { createHmac, KeyObject, constants, sign as cryptoSign } from 'node:crypto';
import type { TokenErrorCode } from '../src/tokens/index.js';
import { nodeKeyPair } from './key-pair.js';

export type SigningAlgorithm = 'ES256' | 'ES384' | 'ES512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'EdDSA' | 'Ed25519';

export interface HostileTokenContext {
  /** The legit signing key and its public half (KeyObject or WebCrypto CryptoKey). */
  readonly privateKey: KeyObject | CryptoKey;
  readonly publicKey: KeyObject | CryptoKey;
  readonly alg: SigningAlgorithm;
  readonly kid: string;
  readonly issuer: string;
  readonly audience: string;
  /** The issuer's required `typ`; legit-looking tokens carry it. */
  readonly typ?: string;
  readonly allowedAlgorithms?: readonly string[];
  readonly maxTokenBytes?: number;
  readonly clockSkewSeconds?: number;
  readonly nowSeconds?: number;
}

export interface HostileToken {
  readonly name: string;
  readonly token: string;
  readonly expectCode: TokenErrorCode;
}

const HASH: Record<string, string> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' };

const b64 = (data: string | Uint8Array): string => Buffer.from(data).toString('base64url');
const toKeyObject = (key: KeyObject | CryptoKey): KeyObject => (key instanceof KeyObject ? key : KeyObject.from(key));

/** Raw JWS signature bytes (ECDSA in the JOSE r||s form unless `der`). */
export function signBytes(alg: string, key: KeyObject | CryptoKey | Uint8Array, data: string, der = false): Buffer {
  if (key instanceof Uint8Array) return createHmac(HASH[alg.slice(2)], key).update(data).digest();
  const k = toKeyObject(key);
  const hash = HASH[alg.slice(2)];
  if (alg === 'EdDSA' || alg === 'Ed25519') return cryptoSign(null, Buffer.from(data), k);
  if (alg.startsWith('ES')) return cryptoSign(hash, Buffer.from(data), { key: k, dsaEncoding: der ? 'der' : 'ieee-p1363' });
  if (alg.startsWith('PS'))
    return cryptoSign(hash, Buffer.from(data), { key: k, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(2)) / 8 });
  if (alg.startsWith('RS')) return cryptoSign(hash, Buffer.from(data), k);
  throw new TypeError(`cannot sign ${alg}`);
}

/** A compact JWS from raw header/payload JSON text (so tests can write duplicate members). */
export function signCompact(alg: string, key: KeyObject | CryptoKey | Uint8Array, headerJson: string, payloadJson: string | Uint8Array): string {
  const input = `${b64(headerJson)}.${b64(payloadJson)}`;
  return `${input}.${b64(signBytes(alg, key, input))}`;
}

export function legitHeader(ctx: HostileTokenContext, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { alg: ctx.alg, kid: ctx.kid, typ: ctx.typ ?? 'JWT', ...extra };
}

export function legitClaims(ctx: HostileTokenContext, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = ctx.nowSeconds ?? Math.floor(Date.now() / 1000);
  return { iss: ctx.issuer, aud: ctx.audience, sub: 'user-1', iat: now - 10, exp: now + 600, scope: 'orders:read', ...extra };
}

/** A token the issuer must accept (the baseline every hostile case departs from). */
export function legitToken(ctx: HostileTokenContext, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): string {
  return signCompact(ctx.alg, ctx.privateKey, JSON.stringify(legitHeader(ctx, header)), JSON.stringify(legitClaims(ctx, claims)));
}

function attackerKeyFor(alg: SigningAlgorithm): KeyObject {
  if (alg.startsWith('ES')) return nodeKeyPair('ec', { namedCurve: { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[alg as 'ES256'] }).privateKey;
  if (alg === 'EdDSA' || alg === 'Ed25519') return nodeKeyPair('ed25519').privateKey;
  return nodeKeyPair('rsa', { modulusLength: 2048 }).privateKey;
}

const SIGNATURE_BYTES: Record<string, number> = { ES256: 64, ES384: 96, ES512: 132, EdDSA: 64, Ed25519: 64 };

export function hostileTokens(ctx: HostileTokenContext): HostileToken[] {
  const allowed = new Set(ctx.allowedAlgorithms ?? [ctx.alg]);
  const skew = ctx.clockSkewSeconds ?? 30;
  const now = ctx.nowSeconds ?? Math.floor(Date.now() / 1000);
  const max = ctx.maxTokenBytes ?? 8192;
  const attacker = attackerKeyFor(ctx.alg);
  const pub = toKeyObject(ctx.publicKey);
  const pem = pub.export({ type: 'spki', format: 'pem' }) as string;
  const der = pub.export({ type: 'spki', format: 'der' });
  const jwkJson = JSON.stringify(pub.export({ format: 'jwk' }));
  const header = (extra: Record<string, unknown> = {}): string => JSON.stringify(legitHeader(ctx, extra));
  const claims = (extra: Record<string, unknown> = {}): string => JSON.stringify(legitClaims(ctx, extra));
  const signed = (h: string, p: string | Uint8Array, key: KeyObject | CryptoKey | Uint8Array = ctx.privateKey, alg: string = ctx.alg): string =>
    signCompact(alg, key, h, p);
  const withSignature = (h: string, p: string, sig: Uint8Array): string => `${b64(h)}.${b64(p)}.${b64(sig)}`;
  const unsigned = (h: Record<string, unknown>): string => `${b64(JSON.stringify(h))}.${b64(claims())}`;
  const legit = legitToken(ctx);
  const other = legitToken(ctx, { sub: 'admin', scope: 'orders:* admin' });
  const [lh, , ls] = legit.split('.');
  const [, op] = other.split('.');
  const disallowedAsymmetric = ['RS256', 'ES256', 'PS256', 'EdDSA'].find((a) => !allowed.has(a)) as SigningAlgorithm | undefined;

  const cases: HostileToken[] = [
    { name: 'alg none, empty signature', token: `${unsigned({ alg: 'none', typ: ctx.typ ?? 'JWT' })}.`, expectCode: 'token_malformed' },
    {
      name: 'alg none with a signature',
      token: `${unsigned({ alg: 'none', kid: ctx.kid, typ: ctx.typ ?? 'JWT' })}.${b64('x')}`,
      expectCode: 'token_algorithm_not_allowed',
    },
    { name: 'alg noNE', token: `${unsigned({ alg: 'noNE', kid: ctx.kid, typ: ctx.typ ?? 'JWT' })}.${b64('x')}`, expectCode: 'token_algorithm_not_allowed' },
    { name: 'alg empty string', token: `${unsigned({ alg: '', kid: ctx.kid, typ: ctx.typ ?? 'JWT' })}.${b64('x')}`, expectCode: 'token_algorithm_not_allowed' },
    {
      name: 'HS256 keyed with the public key PEM',
      token: signed(header({ alg: 'HS256' }), claims(), Buffer.from(pem), 'HS256'),
      expectCode: 'token_algorithm_not_allowed',
    },
    { name: 'HS256 keyed with the public key DER', token: signed(header({ alg: 'HS256' }), claims(), der, 'HS256'), expectCode: 'token_algorithm_not_allowed' },
    {
      name: 'HS256 keyed with the public JWK',
      token: signed(header({ alg: 'HS256' }), claims(), Buffer.from(jwkJson), 'HS256'),
      expectCode: 'token_algorithm_not_allowed',
    },
    { name: 'attacker key under the legit kid', token: signed(header(), claims(), attacker), expectCode: 'token_signature_invalid' },
    {
      name: 'embedded jwk (attacker key)',
      token: signed(header({ kid: undefined, jwk: attacker.export({ format: 'jwk' }) }), claims(), attacker),
      expectCode: 'token_header_invalid',
    },
    { name: 'jku', token: signed(header({ jku: 'https://attacker.example/jwks.json' }), claims(), attacker), expectCode: 'token_header_invalid' },
    { name: 'x5u', token: signed(header({ x5u: 'https://attacker.example/cert.pem' }), claims(), attacker), expectCode: 'token_header_invalid' },
    { name: 'x5c', token: signed(header({ x5c: [der.toString('base64')] }), claims(), attacker), expectCode: 'token_header_invalid' },
    { name: 'kid path traversal', token: signed(header({ kid: '../../dev/null' }), claims(), attacker), expectCode: 'token_key_unknown' },
    { name: 'kid unknown', token: signed(header({ kid: 'no-such-key' }), claims(), attacker), expectCode: 'token_key_unknown' },
    { name: 'kid not a string', token: signed(header({ kid: 7 }), claims()), expectCode: 'token_header_invalid' },
    { name: 'unknown crit extension', token: signed(header({ crit: ['exp-ext'], 'exp-ext': 1 }), claims()), expectCode: 'token_crit_unsupported' },
    { name: 'b64 false (unencoded payload)', token: signed(header({ b64: false, crit: ['b64'] }), claims()), expectCode: 'token_header_invalid' },
    { name: 'expired', token: signed(header(), claims({ exp: now - skew - 60 })), expectCode: 'token_expired' },
    { name: 'nbf in the future', token: signed(header(), claims({ nbf: now + skew + 600 })), expectCode: 'token_not_yet_valid' },
    { name: 'iat in the future', token: signed(header(), claims({ iat: now + skew + 600 })), expectCode: 'token_issued_in_future' },
    { name: 'exp missing', token: signed(header(), claims({ exp: undefined })), expectCode: 'token_claims_invalid' },
    { name: 'exp a string', token: signed(header(), claims({ exp: String(now + 600) })), expectCode: 'token_claims_invalid' },
    { name: 'nbf a string', token: signed(header(), claims({ nbf: String(now - 10) })), expectCode: 'token_claims_invalid' },
    { name: 'sub not a string', token: signed(header(), claims({ sub: 42 })), expectCode: 'token_claims_invalid' },
    { name: 'wrong aud', token: signed(header(), claims({ aud: 'another-service' })), expectCode: 'token_audience_invalid' },
    { name: 'empty aud array', token: signed(header(), claims({ aud: [] })), expectCode: 'token_audience_invalid' },
    { name: 'aud with a non-string member', token: signed(header(), claims({ aud: [ctx.audience, 5] })), expectCode: 'token_claims_invalid' },
    { name: 'wrong iss', token: signed(header(), claims({ iss: 'https://attacker.example' })), expectCode: 'token_issuer_invalid' },
    {
      name: 'all-zero signature',
      token: withSignature(header(), claims(), Buffer.alloc(SIGNATURE_BYTES[ctx.alg] ?? 256)),
      expectCode: 'token_signature_invalid',
    },
    {
      name: 'truncated signature',
      token: `${lh}.${legit.split('.')[1]}.${b64(Buffer.from(ls, 'base64url').subarray(0, -1))}`,
      expectCode: 'token_signature_invalid',
    },
    { name: 'payload swapped from another valid token', token: `${lh}.${op}.${ls}`, expectCode: 'token_signature_invalid' },
    { name: 'oversize', token: signed(header(), claims({ pad: 'x'.repeat(max) })), expectCode: 'token_too_large' },
    { name: '4 segments', token: `${legit}.${ls}`, expectCode: 'token_malformed' },
    { name: '2 segments', token: legit.split('.').slice(0, 2).join('.'), expectCode: 'token_malformed' },
    { name: 'base64 padding', token: `${legit}==`, expectCode: 'token_malformed' },
    { name: 'non-base64url character', token: legit.replace('.', '+.'), expectCode: 'token_malformed' },
    {
      name: 'duplicate alg in header',
      token: signed(`{"alg":"none","kid":${JSON.stringify(ctx.kid)},"typ":${JSON.stringify(ctx.typ ?? 'JWT')},"alg":${JSON.stringify(ctx.alg)}}`, claims()),
      expectCode: 'token_header_invalid',
    },
    {
      name: 'escaped duplicate alg in header',
      token: signed(
        `{"\\u0061lg":"none","kid":${JSON.stringify(ctx.kid)},"typ":${JSON.stringify(ctx.typ ?? 'JWT')},"alg":${JSON.stringify(ctx.alg)}}`,
        claims(),
      ),
      expectCode: 'token_header_invalid',
    },
    { name: 'duplicate sub in payload', token: signed(header(), claims().replace(/^\{/, '{"sub":"admin",')), expectCode: 'token_claims_invalid' },
    { name: 'header not JSON', token: signed('{"alg":', claims()), expectCode: 'token_header_invalid' },
    { name: 'header a JSON array', token: signed(JSON.stringify([legitHeader(ctx)]), claims()), expectCode: 'token_header_invalid' },
    { name: 'payload not JSON', token: signed(header(), 'not json'), expectCode: 'token_claims_invalid' },
    { name: 'payload a JSON array', token: signed(header(), JSON.stringify([legitClaims(ctx)])), expectCode: 'token_claims_invalid' },
    { name: 'payload not UTF-8', token: signed(header(), Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])), expectCode: 'token_claims_invalid' },
  ];
  if (ctx.alg.startsWith('ES')) {
    cases.push({
      name: 'ECDSA signature in DER form',
      token: (() => {
        const input = `${b64(header())}.${b64(claims())}`;
        return `${input}.${b64(signBytes(ctx.alg, ctx.privateKey, input, true))}`;
      })(),
      expectCode: 'token_signature_invalid',
    });
  }
  if (disallowedAsymmetric !== undefined) {
    const key = attackerKeyFor(disallowedAsymmetric);
    cases.push({
      name: `${disallowedAsymmetric} not in the allow-list`,
      token: signed(header({ alg: disallowedAsymmetric }), claims(), key, disallowedAsymmetric),
      expectCode: 'token_algorithm_not_allowed',
    });
  }
  if (ctx.typ !== undefined) {
    cases.push({ name: 'typ wrong', token: signed(header({ typ: 'JWT' }), claims()), expectCode: 'token_type_invalid' });
    cases.push({ name: 'typ missing', token: signed(header({ typ: undefined }), claims()), expectCode: 'token_type_invalid' });
  }
  return cases;
}
