import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { DocumentError } from '../../src/shared/index.js';
import { ControlError, type ControlErrorCode } from '../../src/control/errors.js';
import { decodeUnverified, isNewer, signDocument, verifyDocument } from '../../src/control/signed.js';
import { loadSigners, loadSigningKey, type ControlSigningKey, type SignerSet } from '../../src/control/signers.js';
import type { ControlDocument } from '../../src/control/types.js';

const dir = mkdtempSync(join(tmpdir(), 'control-signed-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const ORDERS = { kind: 'policy', target: 'orders' } as const;
const doc = (over: Partial<ControlDocument> = {}): ControlDocument => ({
  ...ORDERS,
  revision: 3,
  issuedAt: 1_700_000_000,
  body: { rules: [{ name: 'r', to: ['/a'] }] },
  ...over,
});
const b64 = (text: string) => Buffer.from(text).toString('base64url');
const HEADER = (alg: string, kid: string) => JSON.stringify({ alg, kid, typ: 'authz-control+jws' });

/** A fresh key pair written as a public and a private JWK file. */
async function keyFiles(alg: 'EdDSA' | 'ES256' | 'RS256', kid: string): Promise<{ pub: string; priv: string; privJwk: JWK }> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const privJwk = { ...(await exportJWK(privateKey)), kid };
  const pub = join(dir, `${kid}.public.jwk.json`);
  const priv = join(dir, `${kid}.private.jwk.json`);
  writeFileSync(pub, JSON.stringify({ ...(await exportJWK(publicKey)), kid }));
  writeFileSync(priv, JSON.stringify(privJwk));
  return { pub, priv, privJwk };
}

/** Signs arbitrary header and payload text, for documents signDocument would never produce. */
async function rawSign(header: string, payload: string, key: ControlSigningKey): Promise<string> {
  const input = `${b64(header)}.${b64(payload)}`;
  const algorithm = key.alg === 'EdDSA' ? { name: 'Ed25519' } : { name: 'ECDSA', hash: 'SHA-256' };
  const signature = await crypto.subtle.sign(algorithm, key.key, Buffer.from(input));
  return `${input}.${Buffer.from(signature).toString('base64url')}`;
}

let signers: SignerSet;
let ed: ControlSigningKey;
let ec: ControlSigningKey;
let rogueSameKid: ControlSigningKey;
let rogue: ControlSigningKey;

before(async () => {
  const [edFiles, ecFiles] = [await keyFiles('EdDSA', 'cp-ed'), await keyFiles('ES256', 'cp-ec')];
  signers = await loadSigners([edFiles.pub, ecFiles.pub]);
  ed = await loadSigningKey(edFiles.priv);
  ec = await loadSigningKey(ecFiles.priv);
  const other = await keyFiles('EdDSA', 'cp-ed-unpinned');
  rogue = await loadSigningKey(other.priv);
  rogueSameKid = { ...rogue, kid: 'cp-ed' };
});

async function refuses(
  jws: string | Uint8Array,
  code: ControlErrorCode,
  expected: { kind: ControlDocument['kind']; target: string } = ORDERS,
  limits = {},
): Promise<void> {
  await assert.rejects(verifyDocument(jws, signers, expected, limits), (error: unknown) => {
    assert.ok(error instanceof ControlError, String(error));
    assert.equal(error.code, code, error.message);
    assert.doesNotMatch(error.message, /\n/);
    assert.ok(error.message.length < 200, 'message stays short');
    if (typeof jws === 'string' && jws.length > 20) assert.ok(!error.message.includes(jws.split('.')[1] ?? '\0'), 'message holds no document');
    return true;
  });
}

describe('signDocument / verifyDocument', () => {
  it('round-trips EdDSA and ES256 with exactly the documented header', async () => {
    for (const key of [ed, ec]) {
      const jws = await signDocument(doc(), key);
      assert.equal(Buffer.from(jws.split('.')[0], 'base64url').toString(), HEADER(key.alg, key.kid));
      const verified = await verifyDocument(jws, signers, ORDERS);
      assert.deepEqual(verified, doc());
      assert.deepEqual(await verifyDocument(Buffer.from(jws), signers, ORDERS), doc());
      assert.ok(Object.isFrozen(verified) && Object.isFrozen((verified.body as { rules: object[] }).rules[0]));
    }
    const keysDoc = doc({ kind: 'keys', target: 'issuer/idp', body: { keys: [] } });
    assert.deepEqual(await verifyDocument(await signDocument(keysDoc, ed), signers, { kind: 'keys', target: 'issuer/idp' }), keysDoc);
  });

  it('refuses what is not signed', async () => {
    const payload = b64(JSON.stringify(doc()));
    await refuses(`${b64('{"alg":"none","typ":"authz-control+jws"}')}.${payload}.`, 'document_unsigned');
    await refuses(`${b64('{"alg":"none","kid":"cp-ed","typ":"authz-control+jws"}')}.${payload}.AAAA`, 'document_unsigned');
    await refuses(`${b64('{"alg":"NoNe","kid":"cp-ed","typ":"authz-control+jws"}')}.${payload}.AAAA`, 'document_unsigned');
    await refuses(`${b64(HEADER('EdDSA', 'cp-ed'))}.${payload}`, 'document_unsigned');
    const jws = await signDocument(doc(), ed);
    await refuses(jws.slice(0, jws.lastIndexOf('.') + 1), 'document_unsigned');
    await refuses(`${jws}.x`, 'document_unsigned');
    await refuses(`${jws}=`, 'document_unsigned');
    await refuses(` ${jws}`, 'document_unsigned');
    await refuses(new Uint8Array([0xff, 0x2e, 0x41, 0x2e, 0x41]), 'document_unsigned');
    await refuses('', 'document_unsigned');
  });

  it('refuses a tampered payload or header', async () => {
    const [header, , signature] = (await signDocument(doc(), ed)).split('.');
    await refuses(`${header}.${b64(JSON.stringify(doc({ revision: 99 })))}.${signature}`, 'document_signature_invalid');
    const reordered = b64(JSON.stringify({ typ: 'authz-control+jws', alg: 'EdDSA', kid: 'cp-ed' }));
    const [, payload] = (await signDocument(doc(), ed)).split('.');
    await refuses(`${reordered}.${payload}.${signature}`, 'document_signature_invalid');
    await refuses(`${b64(HEADER('EdDSA', 'cp-ed') + ' ')}.${payload}.${signature}`, 'document_signature_invalid');
  });

  it('refuses a key that is not pinned, or pinned for another algorithm', async () => {
    await refuses(await signDocument(doc(), rogueSameKid), 'document_signature_invalid');
    await refuses(await signDocument(doc(), rogue), 'document_signature_invalid');
    const payload = JSON.stringify(doc());
    await refuses(await rawSign(HEADER('ES256', 'cp-ed'), payload, ec), 'document_signature_invalid');
    await refuses(await rawSign(HEADER('EdDSA', 'cp-ec'), payload, ed), 'document_signature_invalid');
    await refuses(await rawSign(HEADER('HS256', 'cp-ed'), payload, ed), 'document_signature_invalid');
    await refuses(await rawSign('{"alg":"EdDSA","typ":"authz-control+jws"}', payload, ed), 'document_signature_invalid');
    for (const member of ['crit', 'jku', 'jwk', 'x5u', 'x5c', 'b64', 'cty']) {
      const header = JSON.stringify({ alg: 'EdDSA', kid: 'cp-ed', typ: 'authz-control+jws', [member]: member === 'b64' ? true : ['x'] });
      await refuses(await rawSign(header, payload, ed), 'document_signature_invalid');
    }
  });

  it('refuses a wrong typ and duplicate or ill-typed members', async () => {
    const payload = JSON.stringify(doc());
    await refuses(await rawSign('{"alg":"EdDSA","kid":"cp-ed","typ":"JWT"}', payload, ed), 'document_malformed');
    await refuses(await rawSign('{"alg":"EdDSA","kid":"cp-ed"}', payload, ed), 'document_malformed');
    await refuses(await rawSign('{"alg":"EdDSA","kid":"cp-ed","kid":"cp-ec","typ":"authz-control+jws"}', payload, ed), 'document_malformed');
    const header = HEADER('EdDSA', 'cp-ed');
    const dup = '{"kind":"policy","target":"orders","revision":1,"revision":2,"issuedAt":1,"body":{}}';
    await refuses(await rawSign(header, dup, ed), 'document_malformed');
    await refuses(await rawSign(header, payload.replace('"name":"r"', '"name":"r","name":"s"'), ed), 'document_malformed');
    for (const revision of [0, -1, 1.5, '3', 2 ** 53, null]) {
      await refuses(await rawSign(header, JSON.stringify({ ...doc(), revision }), ed), 'document_malformed');
    }
    const { body: _body, ...noBody } = doc();
    const variants: unknown[] = [
      noBody,
      { ...doc(), extra: 1 },
      { ...doc(), kind: 'secrets' },
      { ...doc(), target: 7 },
      { ...doc(), issuedAt: '1' },
      [doc()],
      'x',
    ];
    for (const variant of variants) await refuses(await rawSign(header, JSON.stringify(variant), ed), 'document_malformed');
    await refuses(await rawSign(header, payload.replace('1700000000', '1e400'), ed), 'document_malformed');
  });

  it('refuses a document for another KV key', async () => {
    const keysDoc = await signDocument(doc({ kind: 'keys', target: 'issuer/idp', body: { keys: [] } }), ed);
    await refuses(keysDoc, 'document_wrong_kind');
    await refuses(await signDocument(doc({ target: 'billing' }), ed), 'document_wrong_target');
    await refuses(keysDoc, 'document_wrong_target', { kind: 'keys', target: 'issuer/other' });
  });

  it('refuses an oversized document before decoding it', async () => {
    await refuses('a'.repeat(4 * 1024 * 1024 + 1), 'document_too_large');
    await refuses(new Uint8Array(4 * 1024 * 1024 + 1), 'document_too_large');
    await refuses(await signDocument(doc(), ed), 'document_too_large', ORDERS, { maxBytes: 100 });
    await assert.rejects(signDocument(doc({ body: 'x'.repeat(200) }), ed, { maxBytes: 100 }), { code: 'document_too_large' });
  });

  it('names the KV key in errors', async () => {
    await assert.rejects(verifyDocument(await signDocument(doc(), rogue), signers, ORDERS), {
      key: 'policy.orders',
      message: /^policy\.orders: kid "cp-ed-unpinned" is not a pinned signer$/,
    });
  });

  it('signs only what a sidecar would accept', async () => {
    await assert.rejects(signDocument(doc({ revision: 0 }), ed), { code: 'document_malformed' });
    await assert.rejects(signDocument(doc({ target: 'issuer/idp' }), ed), { code: 'document_wrong_target' });
    await assert.rejects(signDocument(doc({ body: { a: undefined } }), ed), { code: 'document_malformed' });
    await assert.rejects(signDocument(doc({ body: { a: Number.NaN } }), ed), { code: 'document_malformed' });
    await assert.rejects(signDocument({ ...doc(), extra: 1 } as ControlDocument, ed), { code: 'document_malformed' });
  });

  it('orders revisions and decodes unverified documents for display', async () => {
    assert.equal(isNewer(doc({ revision: 4 }), 3), true);
    assert.equal(isNewer(doc({ revision: 3 }), 3), false);
    assert.equal(isNewer(doc({ revision: 1 }), 0), true);
    const shown = decodeUnverified(await signDocument(doc(), rogue));
    assert.deepEqual(shown, { verified: false, alg: 'EdDSA', kid: 'cp-ed-unpinned', typ: 'authz-control+jws', document: doc() });
    assert.throws(() => decodeUnverified('a.b'), { code: 'document_unsigned' });
  });
});

describe('loadSigners / loadSigningKey', () => {
  async function refusesFile(load: () => Promise<unknown>, file: string, field: string, reason: RegExp, secret?: string): Promise<void> {
    await assert.rejects(load(), (error: unknown) => {
      assert.ok(error instanceof DocumentError, String(error));
      assert.equal(error.file, file);
      assert.equal(error.field, field);
      assert.match(error.reason, reason);
      assert.doesNotMatch(error.message, /\n/);
      if (secret !== undefined) assert.ok(!error.message.includes(secret), 'no key material in the message');
      return true;
    });
  }

  it('refuses private, RSA, kid-less and duplicate keys, naming the file', async () => {
    const a = await keyFiles('EdDSA', 'dup');
    const copy = join(dir, 'dup-copy.jwk.json');
    writeFileSync(copy, JSON.stringify({ ...JSON.parse(JSON.stringify(a.privJwk)), d: undefined }));
    await refusesFile(() => loadSigners([a.priv]), a.priv, '', /private key member "d"/, a.privJwk.d);
    await refusesFile(() => loadSigners([a.pub, copy]), copy, 'kid', /duplicate kid "dup" \(also in .*dup\.public\.jwk\.json\)/);
    const rsa = await keyFiles('RS256', 'rsa');
    await refusesFile(() => loadSigners([rsa.pub]), rsa.pub, '', /unsupported key \(kty "RSA"\)/);
    const noKid = join(dir, 'no-kid.jwk.json');
    writeFileSync(noKid, JSON.stringify({ ...JSON.parse(JSON.stringify(a.privJwk)), d: undefined, kid: undefined }));
    await refusesFile(() => loadSigners([noKid]), noKid, 'kid', /required/);
    const p384 = join(dir, 'p384.jwk.json');
    writeFileSync(p384, JSON.stringify({ kty: 'EC', crv: 'P-384', x: 'AA', y: 'AA', kid: 'x' }));
    await refusesFile(() => loadSigners([p384]), p384, '', /crv "P-384"/);
    await refusesFile(() => loadSigners([join(dir, 'missing.json')]), join(dir, 'missing.json'), '', /file not found/);
    await refusesFile(() => loadSigningKey(a.pub), a.pub, '', /public key \(no "d"\)/);
    await refusesFile(() => loadSigningKey(rsa.priv), rsa.priv, '', /unsupported key/, rsa.privJwk.d);
  });

  it('refuses a small-order, non-canonical or off-curve Ed25519 key: pinned, among good ones, or to sign with', async () => {
    const good = await keyFiles('EdDSA', 'good-signer');
    const x = (hex: string) => Buffer.from(hex.padEnd(64, '0'), 'hex').toString('base64url');
    const cases: [string, string, RegExp][] = [
      ['identity', x('01'), /member "x" is a small-order Ed25519 point/],
      ['identity-sign-bit', x('01'.padEnd(62, '0') + '80'), /small-order/],
      ['order-8', x('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05'), /small-order/],
      ['y-is-p-plus-2', x('efffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'), /not a canonical Ed25519 encoding/],
      ['off-curve', x('02'), /not a point on Ed25519/],
      ['short', Buffer.alloc(31, 5).toString('base64url'), /31 bytes; an Ed25519 key is 32/],
    ];
    for (const [kid, member, reason] of cases) {
      const file = join(dir, `${kid}.jwk.json`);
      writeFileSync(file, JSON.stringify({ kty: 'OKP', crv: 'Ed25519', kid, x: member }));
      await refusesFile(() => loadSigners([file]), file, '', reason);
      await refusesFile(() => loadSigners([good.pub, file]), file, '', reason);
    }
    // A private JWK with a small-order "x": refused before its "d" is looked at (its public half would be the verify key).
    const priv = join(dir, 'small-order.private.jwk.json');
    writeFileSync(priv, JSON.stringify({ ...good.privJwk, kid: 'small-order', x: x('01') }));
    await refusesFile(() => loadSigningKey(priv), priv, '', /small-order/, good.privJwk.d);
    // X25519 is a key-agreement key: never a control-plane signer.
    const x25519 = join(dir, 'x25519.jwk.json');
    writeFileSync(x25519, JSON.stringify({ kty: 'OKP', crv: 'X25519', kid: 'x25519', x: x('09') }));
    await refusesFile(() => loadSigners([x25519]), x25519, '', /unsupported key \(kty "OKP", crv "X25519"\)/);
  });
});
