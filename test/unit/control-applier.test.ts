import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { DocumentApplier, type ApplierEvent, type ControlTarget } from '../../src/control/applier.js';
import { LastGoodCache } from '../../src/control/last-good.js';
import { signDocument, verifyDocument } from '../../src/control/signed.js';
import { loadSigners, loadSigningKey, type ControlSigningKey, type SignerSet } from '../../src/control/signers.js';
import type { ControlDocument, DocumentKind } from '../../src/control/types.js';

const root = mkdtempSync(join(tmpdir(), 'control-applier-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `cache-${dirs++}`);

const POLICY = { key: 'policy.orders', kind: 'policy', target: 'orders' } as const;
const KEYS = { key: 'keys.issuer.idp', kind: 'keys', target: 'issuer/idp' } as const;
const REVOCATIONS = { key: 'revocations', kind: 'revocations', target: '*' } as const;

let signers: SignerSet;
let signing: ControlSigningKey;
let unpinned: ControlSigningKey;

/** A fresh Ed25519 pair written as JWK files, loaded the way the sidecar and authzctl load them. */
async function keyFiles(kid: string): Promise<{ pub: string; priv: string }> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { extractable: true });
  const pub = join(root, `${kid}.pub.jwk.json`);
  const priv = join(root, `${kid}.jwk.json`);
  writeFileSync(pub, JSON.stringify({ ...(await exportJWK(publicKey)), kid }));
  writeFileSync(priv, JSON.stringify({ ...(await exportJWK(privateKey)), kid }));
  return { pub, priv };
}

before(async () => {
  const pinned = await keyFiles('cp-applier');
  signers = await loadSigners([pinned.pub]);
  signing = await loadSigningKey(pinned.priv);
  unpinned = await loadSigningKey((await keyFiles('cp-rogue')).priv);
});

function doc(spec: { kind: DocumentKind; target: string }, revision: number, body: unknown = { version: revision }): ControlDocument {
  return { kind: spec.kind, target: spec.target, revision, issuedAt: 1_700_000_000 + revision, body };
}

const sign = (spec: { kind: DocumentKind; target: string }, revision: number, body?: unknown, key = signing) => signDocument(doc(spec, revision, body), key);

/** A target that records every document it is given, and refuses a body holding `"bad": true`. */
function recorder(spec: { key: string; kind: DocumentKind; target: string }, options: { delayMs?: number } = {}): ControlTarget & { got: ControlDocument[] } {
  const got: ControlDocument[] = [];
  return {
    ...spec,
    got,
    apply: async (d: ControlDocument) => {
      if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
      if ((d.body as { bad?: unknown } | null)?.bad === true) throw new Error('body refused by the target');
      got.push(d);
    },
  };
}

function setup(options: { cacheDir?: string | null; delayMs?: number } = {}) {
  const events: ApplierEvent[] = [];
  const policy = recorder(POLICY, options);
  const keys = recorder(KEYS);
  const revocations = recorder(REVOCATIONS);
  const cacheDir = options.cacheDir === undefined ? freshDir() : options.cacheDir;
  const cache = cacheDir === null ? null : new LastGoodCache(cacheDir);
  const applier = new DocumentApplier([policy, keys, revocations], signers, cache, (e) => events.push(e));
  return { applier, events, policy, keys, revocations, cacheDir, cache };
}

/** Asserts exactly one rejection event was added since `from`, for `key` with `code`, and lastError agrees. */
function assertRejected(s: ReturnType<typeof setup>, from: number, key: string, code: string, source: 'nats' | 'cache' = 'nats'): void {
  const added = s.events.slice(from);
  assert.equal(added.length, 1, JSON.stringify(added));
  const event = added[0];
  assert.equal(event.type, 'document-rejected', JSON.stringify(event));
  assert.equal(event.type === 'document-rejected' && event.code, code, JSON.stringify(event));
  assert.equal(event.key, key);
  assert.equal(event.type === 'document-rejected' && event.source, source);
  const last = s.applier.lastError();
  assert.ok(last !== null, 'lastError set');
  assert.equal(last.key, key);
  assert.equal(last.code, code);
  assert.ok(!Number.isNaN(Date.parse(last.at)), last.at);
}

describe('DocumentApplier', () => {
  it('applies revision 1 then 2 from NATS, reports them and writes a re-verifiable last-good file', async () => {
    const s = setup();
    assert.deepEqual(s.applier.keys.sort(), ['keys.issuer.idp', 'policy.orders', 'revocations']);
    assert.deepEqual(s.applier.revisions(), { 'policy.orders': 0, 'keys.issuer.idp': 0, revocations: 0 });
    assert.equal(s.applier.lastError(), null);

    const one = await sign(POLICY, 1);
    await s.applier.accept('policy.orders', one, 'nats');
    assert.deepEqual(s.events, [{ type: 'document-applied', key: 'policy.orders', revision: 1, source: 'nats' }]);
    assert.deepEqual(s.policy.got, [doc(POLICY, 1)]);
    assert.equal(s.applier.revisions()['policy.orders'], 1);
    assert.equal(readFileSync(join(s.cacheDir!, 'policy.orders.jws'), 'utf8'), one);

    // Bytes, as the KV feed delivers them.
    const two = await sign(POLICY, 2);
    await s.applier.accept('policy.orders', new TextEncoder().encode(two), 'nats');
    assert.deepEqual(s.events.at(-1), { type: 'document-applied', key: 'policy.orders', revision: 2, source: 'nats' });
    assert.deepEqual(s.policy.got, [doc(POLICY, 1), doc(POLICY, 2)]);
    assert.deepEqual(s.applier.revisions(), { 'policy.orders': 2, 'keys.issuer.idp': 0, revocations: 0 });
    assert.deepEqual(s.keys.got, []);

    const cached = readFileSync(join(s.cacheDir!, 'policy.orders.jws'), 'utf8');
    assert.equal(cached, two);
    assert.deepEqual(await verifyDocument(cached, signers, POLICY), doc(POLICY, 2));
    assert.equal(s.applier.lastError(), null);
  });

  it('ignores a duplicate delivery of the applied JWS without applying it again', async () => {
    const s = setup();
    const one = await sign(POLICY, 1);
    await s.applier.accept('policy.orders', one, 'nats');
    await s.applier.accept('policy.orders', one, 'nats');
    assert.deepEqual(s.events.at(-1), { type: 'document-ignored', key: 'policy.orders', reason: 'duplicate', revision: 1 });
    assert.equal(s.events.length, 2);
    assert.equal(s.policy.got.length, 1);
    assert.equal(s.applier.lastError(), null);
  });

  it('refuses an older or equal revision with other content as document_stale and keeps the state', async () => {
    const s = setup();
    const three = await sign(POLICY, 3);
    await s.applier.accept('policy.orders', three, 'nats');
    const file = join(s.cacheDir!, 'policy.orders.jws');

    for (const stale of [await sign(POLICY, 2), await sign(POLICY, 1), await sign(POLICY, 3, { version: 'other content' })]) {
      const from = s.events.length;
      await s.applier.accept('policy.orders', stale, 'nats');
      assertRejected(s, from, 'policy.orders', 'document_stale');
      assert.equal(s.applier.revisions()['policy.orders'], 3);
      assert.deepEqual(s.policy.got, [doc(POLICY, 3)]);
      assert.equal(readFileSync(file, 'utf8'), three, 'the cache still holds the applied revision');
    }
  });

  it('refuses unsigned, tampered, unpinned, wrong-kind and wrong-target documents, then clears lastError on the next good apply', async () => {
    const s = setup();
    await s.applier.accept('policy.orders', await sign(POLICY, 1), 'nats');
    const good = await sign(POLICY, 2);
    const [h, p, sig] = good.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    payload.body = { version: 2, defaultAction: 'ALLOW' };
    const tampered = `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${sig}`;
    const none = `${Buffer.from('{"alg":"none","typ":"authz-control+jws"}').toString('base64url')}.${Buffer.from(JSON.stringify(doc(POLICY, 99))).toString('base64url')}.`;

    const cases: Array<[string, string, string]> = [
      ['plain JSON', JSON.stringify(doc(POLICY, 50)), 'document_unsigned'],
      ['alg none', none, 'document_unsigned'],
      ['tampered payload', tampered, 'document_signature_invalid'],
      ['unpinned signer', await sign(POLICY, 60, undefined, unpinned), 'document_signature_invalid'],
      ['a keys document under a policy key', await sign(KEYS, 70, { keys: [] }), 'document_wrong_kind'],
      ["another service's policy", await sign({ kind: 'policy', target: 'billing' }, 80), 'document_wrong_target'],
    ];
    for (const [what, value, code] of cases) {
      const from = s.events.length;
      await s.applier.accept('policy.orders', value, 'nats');
      assertRejected(s, from, 'policy.orders', code);
      assert.equal(s.applier.revisions()['policy.orders'], 1, what);
      assert.deepEqual(s.policy.got, [doc(POLICY, 1)], what);
      const message = (s.events.at(-1) as { message: string }).message;
      assert.ok(!message.includes(value.split('.')[1] ?? '\0'), `${what}: the message holds no document`);
    }

    await s.applier.accept('policy.orders', good, 'nats');
    assert.deepEqual(s.events.at(-1), { type: 'document-applied', key: 'policy.orders', revision: 2, source: 'nats' });
    assert.equal(s.applier.lastError(), null);
  });

  it('a good apply clears only the lastError of its own key', async () => {
    const s = setup();
    await s.applier.accept('keys.issuer.idp', 'not a jws', 'nats');
    assert.equal(s.applier.lastError()?.key, 'keys.issuer.idp');
    await s.applier.accept('policy.orders', await sign(POLICY, 1), 'nats');
    assert.equal(s.applier.lastError()?.key, 'keys.issuer.idp');
    assert.equal(s.applier.lastError()?.code, 'document_unsigned');
    await s.applier.accept('keys.issuer.idp', await sign(KEYS, 1, { keys: [] }), 'nats');
    assert.equal(s.applier.lastError(), null);
  });

  it('turns a body the target throws on into document_invalid_body without advancing the revision', async () => {
    const s = setup();
    await s.applier.accept('policy.orders', await sign(POLICY, 1), 'nats');
    const bad = await sign(POLICY, 2, { bad: true });
    const from = s.events.length;
    await s.applier.accept('policy.orders', bad, 'nats');
    assertRejected(s, from, 'policy.orders', 'document_invalid_body');
    assert.match(s.applier.lastError()!.message, /revision 2: body refused by the target/);
    assert.equal(s.applier.revisions()['policy.orders'], 1);
    assert.equal(
      await verifyDocument(readFileSync(join(s.cacheDir!, 'policy.orders.jws'), 'utf8'), signers, POLICY).then((d) => d.revision),
      1,
      'a refused body is never cached',
    );

    // The refused revision does not count: a later valid one (and even the same number with a good body) applies.
    await s.applier.accept('policy.orders', await sign(POLICY, 2), 'nats');
    assert.deepEqual(s.events.at(-1), { type: 'document-applied', key: 'policy.orders', revision: 2, source: 'nats' });
    assert.equal(s.applier.lastError(), null);
    await s.applier.accept('policy.orders', await sign(POLICY, 3), 'nats');
    assert.equal(s.applier.revisions()['policy.orders'], 3);
    assert.deepEqual(
      s.policy.got.map((d) => d.revision),
      [1, 2, 3],
    );
  });

  it('applies concurrent deliveries for one key in call order', async () => {
    // A slow target: without per-key serialisation, revision 2 would be checked before 3 is recorded.
    const s = setup({ delayMs: 30 });
    const [three, two] = [await sign(POLICY, 3), await sign(POLICY, 2)];
    const first = s.applier.accept('policy.orders', three, 'nats');
    const second = s.applier.accept('policy.orders', two, 'nats');
    await Promise.all([first, second]);
    assert.deepEqual(
      s.policy.got.map((d) => d.revision),
      [3],
    );
    assert.deepEqual(
      s.events.map((e) => [e.type, (e as { code?: string }).code ?? (e as { revision?: number }).revision]),
      [
        ['document-applied', 3],
        ['document-rejected', 'document_stale'],
      ],
    );
    assert.equal(s.applier.revisions()['policy.orders'], 3);
    assert.equal(readFileSync(join(s.cacheDir!, 'policy.orders.jws'), 'utf8'), three);

    // And in order the other way round: 4 then 5 both apply, 5 last.
    await Promise.all([s.applier.accept('policy.orders', await sign(POLICY, 4), 'nats'), s.applier.accept('policy.orders', await sign(POLICY, 5), 'nats')]);
    assert.deepEqual(
      s.policy.got.map((d) => d.revision),
      [3, 4, 5],
    );
    assert.equal(s.applier.revisions()['policy.orders'], 5);
  });

  it('keeps serving later deliveries of a key after an event listener threw once', async () => {
    // A throwing listener (a logger bug, say) must cost that one event, not every later document of the key.
    let throwOnce = true;
    const events: ApplierEvent[] = [];
    const policy = recorder(POLICY);
    const applier = new DocumentApplier([policy], signers, null, (e) => {
      events.push(e);
      if (throwOnce) {
        throwOnce = false;
        throw new Error('listener bug');
      }
    });
    await applier.accept('policy.orders', await sign(POLICY, 1), 'nats').catch(() => undefined);
    await applier.accept('policy.orders', await sign(POLICY, 2), 'nats').catch(() => undefined);
    assert.deepEqual(
      policy.got.map((d) => d.revision),
      [1, 2],
      'revision 2 was never applied',
    );
    assert.equal(applier.revisions()['policy.orders'], 2);
  });

  it('only reports a deletion', async () => {
    const s = setup();
    await s.applier.accept('policy.orders', await sign(POLICY, 1), 'nats');
    s.applier.deleted('policy.orders');
    assert.deepEqual(s.events.at(-1), { type: 'document-ignored', key: 'policy.orders', reason: 'deleted' });
    assert.equal(s.events.length, 2);
    assert.equal(s.applier.revisions()['policy.orders'], 1);
    assert.ok(existsSync(join(s.cacheDir!, 'policy.orders.jws')), 'the last good file stays');
    assert.equal(s.applier.lastError(), null);
  });

  it('ignores keys it does not follow', async () => {
    const s = setup();
    await s.applier.accept('policy.billing', await sign({ kind: 'policy', target: 'billing' }, 1), 'nats');
    assert.deepEqual(s.events, []);
    assert.equal(existsSync(join(s.cacheDir!, 'policy.billing.jws')), false);
  });

  it('restores from the files of a previous applier, re-verifying them', async () => {
    const first = setup();
    const policyJws = await sign(POLICY, 4);
    const keysJws = await sign(KEYS, 2, { keys: ['k'] });
    await first.applier.accept('policy.orders', policyJws, 'nats');
    await first.applier.accept('keys.issuer.idp', keysJws, 'nats');

    const second = setup({ cacheDir: first.cacheDir });
    await second.applier.loadCache();
    assert.deepEqual(second.applier.revisions(), { 'policy.orders': 4, 'keys.issuer.idp': 2, revocations: 0 });
    assert.deepEqual(second.policy.got, [doc(POLICY, 4)]);
    assert.deepEqual(second.keys.got, [doc(KEYS, 2, { keys: ['k'] })]);
    assert.deepEqual(second.revocations.got, []);
    const applied = second.events
      .filter((e) => e.type === 'document-applied')
      .map((e) => [e.key, (e as { revision: number }).revision, (e as { source: string }).source]);
    assert.deepEqual(applied.sort(), [
      ['keys.issuer.idp', 2, 'cache'],
      ['policy.orders', 4, 'cache'],
    ]);
    assert.equal(second.events.length, 2, JSON.stringify(second.events));
    assert.equal(second.applier.lastError(), null);

    // NATS then delivers what the cache already held: a duplicate; and an older one: stale.
    await second.applier.accept('policy.orders', policyJws, 'nats');
    assert.equal(second.events.at(-1)?.type, 'document-ignored');
    const from = second.events.length;
    await second.applier.accept('policy.orders', await sign(POLICY, 3), 'nats');
    assertRejected(second, from, 'policy.orders', 'document_stale');
  });

  it('refuses a cache file tampered on disk, with source cache', async () => {
    const first = setup();
    const jws = await sign(POLICY, 4);
    await first.applier.accept('policy.orders', jws, 'nats');
    await first.applier.accept('revocations', await sign(REVOCATIONS, 1, { entries: [] }), 'nats');
    const [h, p, sig] = jws.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    payload.revision = 40;
    writeFileSync(join(first.cacheDir!, 'policy.orders.jws'), `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${sig}`);

    const second = setup({ cacheDir: first.cacheDir });
    await second.applier.loadCache();
    assert.deepEqual(second.policy.got, []);
    assert.deepEqual(second.applier.revisions(), { 'policy.orders': 0, 'keys.issuer.idp': 0, revocations: 1 }, 'the untouched file still loads');
    const rejected = second.events.filter((e) => e.type === 'document-rejected');
    assert.deepEqual(
      rejected.map((e) => [e.key, (e as { code: string }).code, (e as { source: string }).source]),
      [['policy.orders', 'document_signature_invalid', 'cache']],
    );
    assert.equal(second.applier.lastError()?.code, 'document_signature_invalid');

    // NATS can still bring the key back.
    await second.applier.accept('policy.orders', jws, 'nats');
    assert.equal(second.applier.revisions()['policy.orders'], 4);
    assert.equal(second.applier.lastError(), null);
  });

  it('refuses garbage cache files without throwing', async () => {
    const dir = freshDir();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'policy.orders.jws'), 'garbage, not a JWS at all');
    writeFileSync(join(dir, 'keys.issuer.idp.jws'), Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28]));
    mkdirSync(join(dir, 'revocations.jws'));
    const s = setup({ cacheDir: dir });
    await s.applier.loadCache();
    assert.deepEqual(s.applier.revisions(), { 'policy.orders': 0, 'keys.issuer.idp': 0, revocations: 0 });
    const rejected = s.events.map((e) => [e.type, e.key, (e as { code?: string }).code, (e as { source?: string }).source]).sort();
    assert.deepEqual(rejected, [
      ['document-rejected', 'keys.issuer.idp', 'cache_corrupt', 'cache'],
      ['document-rejected', 'policy.orders', 'document_unsigned', 'cache'],
      ['document-rejected', 'revocations', 'cache_corrupt', 'cache'],
    ]);
    assert.deepEqual([s.policy.got, s.keys.got, s.revocations.got], [[], [], []]);
    assert.notEqual(s.applier.lastError(), null);
  });

  it('loads nothing and reports nothing from an empty or absent cache, or without one', async () => {
    const absent = setup({ cacheDir: join(root, 'never-created') });
    await absent.applier.loadCache();
    assert.deepEqual(absent.events, []);
    const none = setup({ cacheDir: null });
    await none.applier.loadCache();
    await none.applier.accept('policy.orders', await sign(POLICY, 1), 'nats');
    assert.deepEqual(none.events, [{ type: 'document-applied', key: 'policy.orders', revision: 1, source: 'nats' }]);
  });

  it('reports cache-failed when the cache cannot be written, and still applies the document', async () => {
    const blocker = join(root, 'a-regular-file');
    writeFileSync(blocker, 'x');
    const s = setup({ cacheDir: join(blocker, 'cache') });
    await s.applier.accept('policy.orders', await sign(POLICY, 1), 'nats');
    assert.equal(s.events.length, 2, JSON.stringify(s.events));
    assert.deepEqual(s.events[0], { type: 'document-applied', key: 'policy.orders', revision: 1, source: 'nats' });
    const failed = s.events[1];
    assert.equal(failed.type, 'cache-failed');
    assert.equal(failed.key, 'policy.orders');
    assert.equal(failed.type === 'cache-failed' && failed.code, 'cache_write_failed');
    assert.match((failed as { message: string }).message, /ENOTDIR/);
    assert.equal(s.applier.revisions()['policy.orders'], 1);
    assert.deepEqual(s.policy.got, [doc(POLICY, 1)]);
    assert.equal(s.applier.lastError(), null, 'a cache failure is not a document error');

    // The next revision applies too.
    await s.applier.accept('policy.orders', await sign(POLICY, 2), 'nats');
    assert.equal(s.applier.revisions()['policy.orders'], 2);
  });

  it('once the cache can be written again, also writes the documents of other keys it missed', async () => {
    const dir = join(root, 'recovering');
    writeFileSync(dir, 'x'); // a regular file where the directory should be: every write fails (ENOTDIR)
    const s = setup({ cacheDir: join(dir, 'cache') });
    await s.applier.accept('keys.issuer.idp', await sign(KEYS, 1), 'nats');
    await s.applier.accept('policy.orders', await sign(POLICY, 1), 'nats');
    assert.deepEqual(
      s.events.filter((e) => e.type === 'cache-failed').map((e) => e.key),
      ['keys.issuer.idp', 'policy.orders'],
    );

    rmSync(dir);
    // Only the policy changes after the disk recovers; the key set must be cached all the same.
    await s.applier.accept('policy.orders', await sign(POLICY, 2), 'nats');
    assert.equal(s.events.filter((e) => e.type === 'cache-failed').length, 2, 'no new failure');
    const restarted = setup({ cacheDir: join(dir, 'cache') });
    await restarted.applier.loadCache();
    assert.deepEqual(restarted.applier.revisions(), { 'policy.orders': 2, 'keys.issuer.idp': 1, revocations: 0 });
  });

  it('does not write documents loaded from the cache back to it', async () => {
    const first = setup();
    await first.applier.accept('policy.orders', await sign(POLICY, 1), 'nats');
    const file = join(first.cacheDir!, 'policy.orders.jws');
    // Writes replace the file by rename, so a write shows up as a new inode.
    const before = statSync(file).ino;
    const second = setup({ cacheDir: first.cacheDir });
    await second.applier.loadCache();
    assert.deepEqual(second.events, [{ type: 'document-applied', key: 'policy.orders', revision: 1, source: 'cache' }]);
    assert.equal(statSync(file).ino, before);
    await second.applier.accept('policy.orders', await sign(POLICY, 2), 'nats');
    assert.notEqual(statSync(file).ino, before, 'a NATS document is written');
  });
});

describe('DocumentApplier.acceptBest (a key read from scratch: its whole history)', () => {
  it('applies the highest revision that verifies, not the newest by position, and flags the replay', async () => {
    const s = setup();
    const history = [await sign(POLICY, 1), await sign(POLICY, 2), await sign(POLICY, 3), await sign(POLICY, 1)];
    await s.applier.acceptBest(POLICY.key, history, 'nats');
    assert.deepEqual(
      s.policy.got.map((d) => d.revision),
      [3],
    );
    assert.equal(s.applier.revisions()[POLICY.key], 3);
    const rejected = s.events.find((e) => e.type === 'document-rejected');
    assert.equal(rejected?.type === 'document-rejected' && rejected.code, 'document_stale');
    assert.match(String(rejected?.type === 'document-rejected' && rejected.message), /newest value is revision 1, older than revision 3/);
    assert.equal(s.applier.lastError()?.code, 'document_stale');
  });

  it('skips what does not verify (unsigned, another signer) and a body the target refuses, taking the next best', async () => {
    const s = setup();
    const forged = await sign(POLICY, 9, undefined, unpinned);
    const history = [await sign(POLICY, 4), await sign(POLICY, 5, { bad: true }), forged];
    await s.applier.acceptBest(POLICY.key, history, 'nats');
    assert.deepEqual(
      s.policy.got.map((d) => d.revision),
      [4],
    );
    const codes = s.events.filter((e) => e.type === 'document-rejected').map((e) => e.type === 'document-rejected' && e.code);
    // The refused body of revision 5 is reported, and so is the newest value (forged), last.
    assert.deepEqual(codes, ['document_invalid_body', 'document_signature_invalid']);
    assert.equal(s.applier.lastError()?.code, 'document_signature_invalid');
  });

  it('never goes below what is applied (from the cache): a history holding only older revisions changes nothing', async () => {
    const s = setup();
    await s.applier.accept(POLICY.key, await sign(POLICY, 7), 'cache');
    const before = s.events.length;
    await s.applier.acceptBest(POLICY.key, [await sign(POLICY, 5), await sign(POLICY, 6)], 'nats');
    assert.deepEqual(
      s.policy.got.map((d) => d.revision),
      [7],
    );
    assertRejected(s, before, POLICY.key, 'document_stale');
  });

  it('is quiet when the newest value is the best one', async () => {
    const s = setup();
    await s.applier.acceptBest(KEYS.key, [await sign(KEYS, 1, { keys: [] }), await sign(KEYS, 2, { keys: [] })], 'nats');
    assert.deepEqual(
      s.keys.got.map((d) => d.revision),
      [2],
    );
    assert.deepEqual(
      s.events.map((e) => e.type),
      ['document-applied'],
    );
    assert.equal(s.applier.lastError(), null);
  });
});
