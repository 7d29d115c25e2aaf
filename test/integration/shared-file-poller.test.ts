import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FilePoller, errorCode } from '../../src/shared/file-poller.js';
import { sleep, until } from '../../testkit/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'file-poller-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A poller that records what it was told. */
function recorder(file: string, intervalMs = 20) {
  const contents: string[] = [];
  const unreadable: string[] = [];
  const poller = new FilePoller(
    file,
    intervalMs,
    async (bytes) => void contents.push(bytes.toString('utf8')),
    (code) => void unreadable.push(code),
  );
  return { poller, contents, unreadable };
}

/** Write + rename over the file, as deploy tools and editors do: same size, new inode. */
function replace(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

describe('FilePoller', () => {
  it('readNow returns the bytes; an unchanged file is not reported again', async () => {
    const file = join(dir, 'steady.txt');
    writeFileSync(file, 'one');
    const { poller, contents, unreadable } = recorder(file);
    assert.equal((await poller.readNow()).toString(), 'one');
    poller.start();
    await sleep(120);
    poller.stop();
    assert.deepEqual(contents, []);
    assert.deepEqual(unreadable, []);
  });

  it('detects a rename-over replacement, even with the same size', async () => {
    const file = join(dir, 'renamed.txt');
    writeFileSync(file, 'aaa');
    const { poller, contents } = recorder(file);
    await poller.readNow();
    poller.start();
    replace(file, 'bbb');
    await until('first change', () => contents.length === 1);
    replace(file, 'ccc');
    await until('second change', () => contents.length === 2);
    poller.stop();
    assert.deepEqual(contents, ['bbb', 'ccc']);
  });

  it('follows a Kubernetes-style ..data symlink swap', async () => {
    const base = join(dir, 'k8s');
    mkdirSync(join(base, 'v1'), { recursive: true });
    mkdirSync(join(base, 'v2'));
    writeFileSync(join(base, 'v1', 'policy.yaml'), 'v1');
    writeFileSync(join(base, 'v2', 'policy.yaml'), 'v2');
    symlinkSync('v1', join(base, '..data'));
    symlinkSync('..data/policy.yaml', join(base, 'policy.yaml'));
    const { poller, contents } = recorder(join(base, 'policy.yaml'));
    assert.equal((await poller.readNow()).toString(), 'v1');
    poller.start();
    symlinkSync('v2', join(base, '..data_tmp'));
    renameSync(join(base, '..data_tmp'), join(base, '..data'));
    await until('swap', () => contents.length === 1);
    poller.stop();
    assert.deepEqual(contents, ['v2']);
  });

  it('reports an unreadable file once, then the content when it is back', async () => {
    const file = join(dir, 'flaky.txt');
    writeFileSync(file, 'before');
    const { poller, contents, unreadable } = recorder(file);
    await poller.readNow();
    poller.start();
    unlinkSync(file);
    await until('unreadable', () => unreadable.length === 1);
    await sleep(150); // several more polls of the missing file
    assert.deepEqual(unreadable, ['ENOENT'], 'reported once, not once per poll');
    writeFileSync(file, 'after');
    await until('content back', () => contents.length === 1);
    assert.deepEqual(contents, ['after']);
    unlinkSync(file);
    await until('unreadable again', () => unreadable.length === 2);
    poller.stop();
    assert.deepEqual(unreadable, ['ENOENT', 'ENOENT'], 'a new change into the unreadable state is reported again');
  });

  it('reports permission errors by code', { skip: process.getuid?.() === 0 ? 'root reads any file' : false }, async () => {
    const file = join(dir, 'locked.txt');
    writeFileSync(file, 'x');
    const { poller, unreadable } = recorder(file);
    await poller.readNow();
    poller.start();
    chmodSync(file, 0o000);
    await until('unreadable', () => unreadable.length === 1);
    poller.stop();
    chmodSync(file, 0o600);
    assert.deepEqual(unreadable, ['EACCES']);
  });

  it('readNow rejects for a missing file (the caller decides what that means)', async () => {
    const { poller } = recorder(join(dir, 'missing.txt'));
    await assert.rejects(poller.readNow(), (error: unknown) => errorCode(error) === 'ENOENT');
  });

  it('stop() stops polling: later changes are not reported', async () => {
    const file = join(dir, 'stopped.txt');
    writeFileSync(file, 'one');
    const { poller, contents, unreadable } = recorder(file);
    await poller.readNow();
    poller.start();
    replace(file, 'two');
    await until('change', () => contents.length === 1);
    poller.stop();
    replace(file, 'three');
    await sleep(120);
    unlinkSync(file);
    await sleep(120);
    assert.deepEqual(contents, ['two']);
    assert.deepEqual(unreadable, []);
  });

  it('does not overlap polls: the next stat waits for onContent', async () => {
    const file = join(dir, 'slow.txt');
    writeFileSync(file, '0');
    let running = 0;
    let maxRunning = 0;
    const seen: string[] = [];
    const poller = new FilePoller(
      file,
      5,
      async (bytes) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        seen.push(bytes.toString());
        await sleep(60);
        running--;
      },
      () => {},
    );
    await poller.readNow();
    poller.start();
    replace(file, '1');
    await until('first', () => seen.length === 1);
    replace(file, '2');
    await until('second', () => seen.length === 2);
    poller.stop();
    assert.equal(maxRunning, 1);
    assert.deepEqual(seen, ['1', '2']);
  });

  it('errorCode names errno codes and falls back for anything else', () => {
    assert.equal(errorCode(Object.assign(new Error('x'), { code: 'EISDIR' })), 'EISDIR');
    assert.equal(errorCode(new Error('x')), 'unknown error');
    assert.equal(errorCode(undefined), 'unknown error');
  });
});
