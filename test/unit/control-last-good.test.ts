import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlError } from '../../src/control/errors.js';
import { LastGoodCache } from '../../src/control/last-good.js';

const root = mkdtempSync(join(tmpdir(), 'control-last-good-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `cache-${n++}`, 'nested');

function isControlError(code: string, key?: string) {
  return (error: unknown) => {
    assert.ok(error instanceof ControlError, String(error));
    assert.equal(error.code, code, error.message);
    if (key !== undefined) assert.equal(error.key, key);
    return true;
  };
}

describe('LastGoodCache', () => {
  it('round-trips a document in a private directory and file', async () => {
    const dir = freshDir();
    const cache = new LastGoodCache(dir);
    assert.equal(await cache.read('policy.orders'), null);
    await cache.write('policy.orders', 'aaa.bbb.ccc');
    await cache.write('keys.issuer.idp', 'ddd.eee.fff');
    assert.equal(await cache.read('policy.orders'), 'aaa.bbb.ccc');
    assert.equal(await cache.read('keys.issuer.idp'), 'ddd.eee.fff');
    await cache.write('policy.orders', 'ggg.hhh.iii');
    assert.equal(await cache.read('policy.orders'), 'ggg.hhh.iii');
    assert.deepEqual(readdirSync(dir).sort(), ['keys.issuer.idp.jws', 'policy.orders.jws']);
    assert.equal(statSync(dir).mode & 0o777 & ~0o700, 0);
    assert.equal(statSync(join(dir, 'policy.orders.jws')).mode & 0o777 & ~0o600, 0);
    assert.equal(cache.pathFor('revocations'), join(dir, 'revocations.jws'));
  });

  it('never shows a reader part of a document', async () => {
    const cache = new LastGoodCache(freshDir());
    const a = 'A'.repeat(1024 * 1024);
    const b = 'B'.repeat(512 * 1024);
    await cache.write('policy.orders', a);
    let writing = true;
    const writer = (async () => {
      for (let i = 0; i < 20; i++) await cache.write('policy.orders', i % 2 === 0 ? b : a);
      writing = false;
    })();
    let reads = 0;
    while (writing) {
      const seen = await cache.read('policy.orders');
      assert.ok(seen === a || seen === b, `read ${seen?.length ?? 'null'} bytes`);
      reads++;
    }
    await writer;
    assert.ok(reads > 0);
    // Concurrent writes of one key (same tmp name) are serialized, not interleaved.
    await Promise.all([cache.write('policy.orders', a), cache.write('policy.orders', b)]);
    assert.equal(await cache.read('policy.orders'), b);
  });

  it('keeps the previous document whole when a write fails', async () => {
    const dir = freshDir();
    const cache = new LastGoodCache(dir);
    await cache.write('policy.orders', 'old.old.old');
    // The tmp name is not the final name: block the tmp path and the final file is untouched.
    const tmp = `${cache.pathFor('policy.orders')}.tmp-${process.pid}`;
    mkdirSync(join(tmp, 'x'), { recursive: true });
    await assert.rejects(cache.write('policy.orders', 'new.new.new'), isControlError('cache_write_failed', 'policy.orders'));
    assert.equal(await cache.read('policy.orders'), 'old.old.old');
  });

  it('reports a directory it cannot write as cache_write_failed with the errno', async () => {
    let dir: string;
    if (process.getuid?.() === 0) {
      // root ignores mode bits: put the cache under a regular file instead (ENOTDIR).
      const file = join(root, `file-${n++}`);
      writeFileSync(file, 'not a directory');
      dir = join(file, 'sub');
    } else {
      dir = join(root, `readonly-${n++}`);
      mkdirSync(dir);
      chmodSync(dir, 0o500);
    }
    await assert.rejects(new LastGoodCache(dir).write('revocations', 'a.b.c'), (error: unknown) => {
      isControlError('cache_write_failed', 'revocations')(error);
      assert.match((error as ControlError).errno ?? '', /^(ENOTDIR|EACCES)$/);
      return true;
    });
  });

  it('reports unusable files as cache_corrupt', async () => {
    const dir = freshDir();
    const cache = new LastGoodCache(dir, { maxBytes: 64 });
    await cache.write('policy.orders', 'x.y.z');
    writeFileSync(cache.pathFor('policy.orders'), Buffer.from([0x61, 0xff, 0xfe, 0x2e]));
    await assert.rejects(cache.read('policy.orders'), isControlError('cache_corrupt', 'policy.orders'));
    writeFileSync(cache.pathFor('policy.orders'), 'a'.repeat(65));
    await assert.rejects(cache.read('policy.orders'), isControlError('cache_corrupt'));
    writeFileSync(cache.pathFor('policy.orders'), '');
    await assert.rejects(cache.read('policy.orders'), isControlError('cache_corrupt'));
    mkdirSync(cache.pathFor('keys.issuer.idp'));
    await assert.rejects(cache.read('keys.issuer.idp'), isControlError('cache_corrupt'));
    await assert.rejects(cache.write('policy.orders', 'a'.repeat(65)), isControlError('cache_write_failed'));
  });

  it('refuses names that are not KV keys', () => {
    const cache = new LastGoodCache(freshDir());
    for (const key of ['../policy.orders', 'policy/orders', 'policy.a..b', '..', 'policy.orders/../../x', 'unknown', '']) {
      assert.throws(() => cache.pathFor(key), TypeError, key);
      assert.throws(() => cache.write(key, 'a.b.c'), TypeError, key);
    }
  });
});
