/**
 * The last good document of each KV key, on local disk, so a sidecar that restarts while
 * NATS is down still serves (docs/control-plane.md). One file per key, `<dir>/<kvKey>.jws`, holding
 * the JWS exactly as received. Nothing here is trusted: the caller verifies what it reads
 * as it would a KV value, so a tampered or truncated file is refused, never applied.
 */
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ControlError } from './errors.js';
import { parseKvKey } from './kv-keys.js';
import { DEFAULT_MAX_DOCUMENT_BYTES } from './signed.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class LastGoodCache {
  readonly dir: string;
  private readonly maxBytes: number;
  /** Writes of one key are chained so two never share the tmp file. */
  private readonly writing = new Map<string, Promise<void>>();

  constructor(dir: string, options: { maxBytes?: number } = {}) {
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_DOCUMENT_BYTES;
    if (typeof dir !== 'string' || dir === '') throw new TypeError('LastGoodCache: dir must be a non-empty path');
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new TypeError('LastGoodCache: maxBytes must be a positive integer');
    this.dir = dir;
    this.maxBytes = maxBytes;
  }

  /** `<dir>/<kvKey>.jws`; a TypeError for anything that is not a KV key of the table. */
  pathFor(kvKey: string): string {
    // parseKvKey already refuses these; checked again because this name reaches the file system.
    if (typeof kvKey !== 'string' || /[/\\\0]/.test(kvKey) || kvKey.includes('..') || parseKvKey(kvKey) === null)
      throw new TypeError('LastGoodCache: not a valid KV key');
    return join(this.dir, `${kvKey}.jws`);
  }

  /**
   * Replaces the key's file atomically: the JWS goes to `<file>.tmp-<pid>`, is synced, then
   * renamed over the file, so a reader (or a crash) sees the old document or the new one,
   * never part of one. Failures are ControlError `cache_write_failed` carrying the errno.
   */
  write(kvKey: string, jws: string): Promise<void> {
    const file = this.pathFor(kvKey);
    const previous = this.writing.get(kvKey) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.writeNow(kvKey, file, jws));
    this.writing.set(kvKey, next);
    const forget = () => {
      if (this.writing.get(kvKey) === next) this.writing.delete(kvKey);
    };
    next.then(forget, forget);
    return next;
  }

  /** The cached JWS, or null when there is none; ControlError `cache_corrupt` when it cannot be used. */
  async read(kvKey: string): Promise<string | null> {
    const file = this.pathFor(kvKey);
    let bytes: Buffer;
    try {
      const handle = await open(file, 'r');
      try {
        const stat = await handle.stat();
        if (!stat.isFile()) throw corrupt(kvKey, 'not a regular file');
        if (stat.size > this.maxBytes) throw corrupt(kvKey, `larger than ${this.maxBytes} bytes`);
        bytes = await readAtMost(handle, stat.size + 1);
        // Our writes replace the file by rename, never in place, so a size change is someone else.
        if (bytes.length !== stat.size) throw corrupt(kvKey, 'changed while being read');
      } finally {
        await handle.close();
      }
    } catch (error) {
      if (error instanceof ControlError) throw error;
      const errno = errnoOf(error);
      if (errno === 'ENOENT') return null;
      throw new ControlError('cache_corrupt', `last-good cache: cannot read ${kvKey}: ${errno}`, { key: kvKey, errno, cause: error });
    }
    if (bytes.length === 0) throw corrupt(kvKey, 'empty');
    try {
      return utf8.decode(bytes);
    } catch {
      throw corrupt(kvKey, 'not UTF-8');
    }
  }

  private async writeNow(kvKey: string, file: string, jws: string): Promise<void> {
    if (typeof jws !== 'string' || jws === '' || Buffer.byteLength(jws) > this.maxBytes)
      throw new ControlError('cache_write_failed', `last-good cache: ${kvKey}: document empty or over ${this.maxBytes} bytes`, { key: kvKey });
    const tmp = `${file}.tmp-${process.pid}`;
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      // A tmp file left by a crashed process with our pid (pid 1 in a container, every time):
      // remove it, then create exclusively so a planted symlink is never followed.
      await rm(tmp, { force: true });
      const handle = await open(tmp, 'wx', 0o600);
      try {
        await handle.writeFile(jws, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, file);
    } catch (error) {
      await rm(tmp, { force: true }).catch(() => undefined);
      const errno = errnoOf(error);
      throw new ControlError('cache_write_failed', `last-good cache: cannot write ${kvKey} in ${this.dir}: ${errno}`, { key: kvKey, errno, cause: error });
    }
  }
}

async function readAtMost(handle: Awaited<ReturnType<typeof open>>, limit: number): Promise<Buffer> {
  const buffer = Buffer.alloc(limit);
  let length = 0;
  while (length < limit) {
    const { bytesRead } = await handle.read(buffer, length, limit - length, length);
    if (bytesRead === 0) break;
    length += bytesRead;
  }
  return buffer.subarray(0, length);
}

function corrupt(kvKey: string, reason: string): ControlError {
  return new ControlError('cache_corrupt', `last-good cache: ${kvKey}: ${reason}`, { key: kvKey });
}

function errnoOf(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : 'EIO';
}
