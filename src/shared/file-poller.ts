import { readFile, stat } from 'node:fs/promises';

/**
 * Polls a file's stat and hands its bytes over when it changed. Kubernetes updates ConfigMap
 * and Secret volumes by swapping a `..data` symlink, which inotify-style watchers on the file
 * miss; stat follows the symlink, and device + inode + size + mtime + ctime changes with
 * every swap or rewrite. (The store then compares key material, so a touch without a content
 * change is not a new revision.) A setTimeout chain rather than fs.watchFile so a poll never
 * overlaps the previous one's read and parse, and stop() is exact.
 */
export class FilePoller {
  #signature: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(
    private readonly path: string,
    private readonly intervalMs: number,
    /** Called with the file's bytes after a change; awaited before the next poll. */
    private readonly onContent: (bytes: Buffer) => Promise<void>,
    /** Called once per change into an unreadable state (missing, permissions). */
    private readonly onUnreadable: (code: string) => void,
  ) {}

  /** The first read: the caller decides what a failure means (at start, an exit). */
  async readNow(): Promise<Buffer> {
    const signature = await this.#stat();
    const bytes = await readFile(this.path);
    this.#signature = signature;
    return bytes;
  }

  start(): void {
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#poll().finally(() => this.#schedule()), this.intervalMs);
    // Polling alone must not keep a process alive (tests, CLI); the servers do that.
    this.#timer.unref();
  }

  async #poll(): Promise<void> {
    let signature: string;
    let bytes: Buffer;
    try {
      signature = await this.#stat();
      if (signature === this.#signature) return;
      bytes = await readFile(this.path);
    } catch (error) {
      // Missing, unreadable, or swapped away between stat and read: report the state once,
      // and read again as soon as stat shows anything else.
      const state = `unreadable:${errorCode(error)}`;
      if (this.#signature !== state && !this.#stopped) this.onUnreadable(errorCode(error));
      this.#signature = state;
      return;
    }
    this.#signature = signature;
    if (!this.#stopped) await this.onContent(bytes);
  }

  async #stat(): Promise<string> {
    const s = await stat(this.path, { bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  }
}

export function errorCode(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : 'unknown error';
}
