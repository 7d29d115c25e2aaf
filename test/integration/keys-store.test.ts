import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync, renameSync, symlinkSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { KeySetError, KeyStore, parseJwks, type KeySet, type KeyStoreEvent } from '../../src/keys/index.js';
import type { KeySourceConfig } from '../../src/config/schema.js';
import { sleep, until } from '../../testkit/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'keys-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function jwk(kid: string, extra: Record<string, unknown> = {}): Promise<JWK> {
  const { publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { ...(await exportJWK(publicKey)), kid, alg: 'ES256', ...extra };
}
const jwks = (...keys: unknown[]): string => JSON.stringify({ keys });
const source = (s: Partial<KeySourceConfig>): KeySourceConfig => ({ timeoutMs: 1_000, cooldownSeconds: 30, maxAgeSeconds: 600, ...s });

function record(store: KeyStore): KeyStoreEvent[] {
  const events: KeyStoreEvent[] = [];
  store.onEvent((e) => events.push(e));
  return events;
}

describe('KeyStore: file source', () => {
  it('loads at start, then picks up rotations by polling', async () => {
    const file = join(dir, 'rotate.json');
    writeFileSync(file, jwks(await jwk('k1')));
    const store = new KeyStore({ name: 'idp', source: source({ file }), algorithms: ['ES256'], pollIntervalMs: 20 });
    const events = record(store);
    assert.equal(store.ready, false);
    await store.start();
    assert.equal(store.ready, true);
    assert.deepEqual(store.current()?.kids, ['k1']);
    assert.equal(store.current()?.revision, 1);
    assert.deepEqual(events, [{ type: 'keys-loaded', name: 'idp', origin: 'file', revision: 1, kids: ['k1'] }]);

    const seen: Array<{ before: number | undefined; next: number }> = [];
    store.onChange((next: KeySet) => seen.push({ before: store.current()?.revision, next: next.revision }));
    // Atomic replace (write + rename), as most deploy tools do.
    writeFileSync(`${file}.tmp`, jwks(await jwk('k2')));
    renameSync(`${file}.tmp`, file);
    await until('rotation', () => store.current()?.revision === 2);
    assert.deepEqual(store.current()?.kids, ['k2']);
    assert.deepEqual(seen, [{ before: 1, next: 2 }], 'listeners run before the new set is current');
    assert.equal(events.at(-1)?.type, 'keys-loaded');
    store.stop();
  });

  it('follows a Kubernetes-style ..data symlink swap', async () => {
    const root = join(dir, 'cm');
    mkdirSync(join(root, 'v1'), { recursive: true });
    mkdirSync(join(root, 'v2'));
    writeFileSync(join(root, 'v1', 'keys.json'), jwks(await jwk('old')));
    writeFileSync(join(root, 'v2', 'keys.json'), jwks(await jwk('new')));
    symlinkSync('v1', join(root, '..data'));
    symlinkSync(join('..data', 'keys.json'), join(root, 'keys.json'));
    const store = new KeyStore({ name: 'idp', source: source({ file: join(root, 'keys.json') }), algorithms: ['ES256'], pollIntervalMs: 20 });
    await store.start();
    assert.deepEqual(store.current()?.kids, ['old']);
    symlinkSync('v2', join(root, '..data_tmp'));
    renameSync(join(root, '..data_tmp'), join(root, '..data'));
    await until('swap', () => store.current()?.kids[0] === 'new');
    store.stop();
  });

  it('keeps the old set on a bad update and reports it once; identical content is no new revision', async () => {
    const file = join(dir, 'bad.json');
    const good = jwks(await jwk('k1'));
    writeFileSync(file, good);
    const store = new KeyStore({ name: 'idp', source: source({ file }), algorithms: ['ES256'], pollIntervalMs: 20 });
    const events = record(store);
    await store.start();
    const privateJwk = await exportJWK((await generateKeyPair('ES256', { extractable: true })).privateKey);
    writeFileSync(file, jwks({ ...privateJwk, kid: 'leak' }));
    await until('rejection', () => events.some((e) => e.type === 'keys-rejected'));
    await sleep(100);
    const rejected = events.filter((e) => e.type === 'keys-rejected');
    assert.equal(rejected.length, 1);
    assert.equal(rejected[0].type === 'keys-rejected' && rejected[0].code, 'jwks_private_key');
    assert.deepEqual(store.current()?.kids, ['k1']);
    assert.equal(store.current()?.revision, 1);

    writeFileSync(file, `${good}\n`);
    await sleep(100);
    assert.equal(store.current()?.revision, 1, 'same keys, no new revision');

    rmSync(file);
    await until('read failure', () => events.some((e) => e.type === 'keys-rejected' && e.code === 'keys_read_failed'));
    assert.deepEqual(store.current()?.kids, ['k1']);
    writeFileSync(file, jwks(await jwk('k3')));
    await until('recovery', () => store.current()?.kids[0] === 'k3');
    store.stop();
  });

  it('stops polling on stop()', async () => {
    const file = join(dir, 'stop.json');
    writeFileSync(file, jwks(await jwk('k1')));
    const store = new KeyStore({ name: 'idp', source: source({ file }), algorithms: ['ES256'], pollIntervalMs: 20 });
    await store.start();
    store.stop();
    writeFileSync(file, jwks(await jwk('k2')));
    await sleep(100);
    assert.deepEqual(store.current()?.kids, ['k1']);
  });

  it('fails start with an error naming the file', async () => {
    const missing = join(dir, 'missing.json');
    const store = new KeyStore({ name: 'idp', source: source({ file: missing }), algorithms: ['ES256'] });
    await assert.rejects(
      store.start(),
      (e: unknown) => e instanceof KeySetError && e.code === 'keys_read_failed' && e.message.includes(missing) && e.message.includes('ENOENT'),
    );
    const empty = join(dir, 'empty.json');
    writeFileSync(empty, jwks());
    const store2 = new KeyStore({ name: 'idp', source: source({ file: empty }), algorithms: ['ES256'] });
    await assert.rejects(store2.start(), (e: unknown) => e instanceof KeySetError && e.code === 'jwks_empty' && e.message.includes(empty));
    assert.equal(store2.ready, false);
  });
});

describe('KeyStore: secretFile and control plane', () => {
  it('reads a shared secret once', async () => {
    const file = join(dir, 'secret');
    writeFileSync(file, Buffer.alloc(32, 7));
    const store = new KeyStore({ name: 'hs', source: source({ secretFile: file }), algorithms: ['HS256'] });
    await store.start();
    assert.ok(store.current()?.select('HS256', undefined));
    const short = join(dir, 'short');
    writeFileSync(short, 'too short');
    const store2 = new KeyStore({ name: 'hs', source: source({ secretFile: short }), algorithms: ['HS256'] });
    await assert.rejects(store2.start(), (e: unknown) => e instanceof KeySetError && e.code === 'secret_too_short' && e.message.includes(short));
  });

  it('swaps sets pushed by the control plane', async () => {
    const store = new KeyStore({ name: 'mesh', source: source({ nats: true }), algorithms: ['ES256'] });
    const events = record(store);
    await store.start();
    assert.equal(store.ready, false);
    store.setFromControlPlane(await parseJwks(jwks(await jwk('a'))));
    store.setFromControlPlane(await parseJwks(jwks(await jwk('b'))));
    assert.equal(store.current()?.revision, 2);
    assert.deepEqual(
      events.map((e) => e.type === 'keys-loaded' && `${e.origin}:${e.revision}`),
      ['control-plane:1', 'control-plane:2'],
    );
    const file = new KeyStore({ name: 'x', source: source({ file: '/nonexistent' }), algorithms: ['ES256'] });
    assert.throws(() => file.setFromControlPlane(store.current()!), TypeError);
  });
});

describe('KeyStore: remote JWKS', () => {
  let body = '';
  let status = 200;
  let hits = 0;
  let server: Server;
  let url = '';
  const started = new Promise<void>((resolve) => {
    server = createServer((_req, res) => {
      hits++;
      res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    }).listen(0, '127.0.0.1', () => {
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
      resolve();
    });
  });
  after(() => server.close());

  it('fetches at start and refetches on an unknown kid at most once per cooldown', async () => {
    await started;
    body = jwks(await jwk('k1'));
    hits = 0;
    const store = new KeyStore({ name: 'remote', source: source({ url, cooldownSeconds: 0.3 }), algorithms: ['ES256'] });
    const events = record(store);
    await store.start();
    assert.equal(hits, 1);
    assert.deepEqual(store.current()?.kids, ['k1']);

    assert.equal(await store.reloadOnUnknownKey(), false, 'still cooling down after the start fetch');
    assert.equal(hits, 1);
    await sleep(350);
    body = jwks(await jwk('k1b'), await jwk('k2'));
    const results = await Promise.all(Array.from({ length: 20 }, () => store.reloadOnUnknownKey()));
    assert.ok(results.every(Boolean));
    assert.equal(hits, 2, 'twenty unknown-kid lookups share one fetch');
    assert.deepEqual(store.current()?.kids, ['k1b', 'k2']);
    for (let i = 0; i < 20; i++) await store.reloadOnUnknownKey();
    assert.equal(hits, 2, 'no more fetches during the cooldown');
    assert.deepEqual(
      events.map((e) => e.type),
      ['keys-loaded', 'keys-loaded'],
    );

    await sleep(350);
    await store.reloadOnUnknownKey();
    assert.equal(hits, 3);
    assert.equal(store.current()?.revision, 2, 'an unchanged document is no new revision');
    store.stop();
  });

  it('applies the same refusals to fetched sets and keeps the old one', async () => {
    await started;
    body = jwks(await jwk('k1'));
    const store = new KeyStore({ name: 'remote', source: source({ url, cooldownSeconds: 0.05 }), algorithms: ['ES256'] });
    const events = record(store);
    await store.start();
    const cases: Array<[string, number, string]> = [
      [jwks({ kty: 'oct', k: Buffer.alloc(32).toString('base64url') }), 200, 'jwks_symmetric_key'],
      [jwks({ ...(await jwk('p')), d: 'AAAA' }), 200, 'jwks_private_key'],
      [jwks(), 200, 'jwks_empty'],
      ['oops', 200, 'jwks_malformed'],
      [jwks(await jwk('x')), 500, 'jwks_fetch_failed'],
      [jwks(await jwk('x')), 302, 'jwks_fetch_failed'],
    ];
    for (const [text, code, expected] of cases) {
      body = text;
      status = code;
      await sleep(60);
      await store.reloadOnUnknownKey();
      const last = events.at(-1);
      assert.equal(last?.type === 'keys-rejected' && last.code, expected);
      assert.deepEqual(store.current()?.kids, ['k1']);
    }
    status = 200;
    store.stop();
  });

  it('does not throw at start when the endpoint is down, and is not ready', async () => {
    const store = new KeyStore({ name: 'down', source: source({ url: 'http://127.0.0.1:9/jwks.json', timeoutMs: 500 }), algorithms: ['ES256'] });
    const events = record(store);
    await store.start();
    assert.equal(store.ready, false);
    assert.equal(events[0]?.type === 'keys-rejected' && events[0].code, 'jwks_fetch_failed');
    assert.ok(!JSON.stringify(events).includes('127.0.0.1:9'), 'no URL in messages');
    store.stop();
  });
});
