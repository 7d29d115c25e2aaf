import { readFile } from 'node:fs/promises';
import type { KeySourceConfig } from '../config/index.js';
import { KeySetError, type KeySetErrorCode } from './errors.js';
import { errorCode, FilePoller } from '../shared/index.js';
import { parseJwks } from './jwks.js';
import { createSecretKeySet, type KeySet } from './key-set.js';
import { RemoteJwks } from './remote-jwks.js';
import { discoveredJwksUri } from './discovered-jwks.js';

export type KeyOrigin = 'file' | 'secretFile' | 'url' | 'discovery' | 'control-plane';

/** What the store reports; the application turns these into logs and metrics. */
export type KeyStoreEvent =
  | { readonly type: 'keys-loaded'; readonly name: string; readonly origin: KeyOrigin; readonly revision: number; readonly kids: readonly string[] }
  | { readonly type: 'keys-rejected'; readonly name: string; readonly origin: KeyOrigin; readonly code: KeySetErrorCode; readonly message: string };

/** The part of a KeyStore a verifier needs. */
export interface KeyProvider {
  current(): KeySet | undefined;
  /** Called when a token's kid matches no key: a remote source may refetch (cooldown applies). Resolves true when it did. */
  reloadOnUnknownKey(): Promise<boolean>;
  /**
   * False when an unknown kid may be the source's fault rather than the token's: no set is
   * held yet, or a remote JWKS whose latest fetch failed. Verifiers then answer
   * `keys_unavailable` (503, or fail-open where configured) instead of `token_key_unknown`.
   */
  available(): boolean;
}

export interface KeyStoreOptions {
  /** Issuer name, or the trust domain's name for service tokens; carried by every event. */
  readonly name: string;
  readonly source: KeySourceConfig;
  /** The issuer's allowed algorithms (decides which HS* a shared secret serves). */
  readonly algorithms: readonly string[];
  /** Stat polling period for `file` sources (config `watch.intervalMs`). */
  readonly pollIntervalMs?: number;
  /** The configured `iss`: a `discovery` source's document must name exactly this issuer. */
  readonly issuer?: string | undefined;
}

/**
 * The current key set of one issuer or trust domain. Sets are immutable; a change swaps the
 * reference, so a verification sees the old set or the new one, never a mix. A refused update
 * keeps the previous set. Subscribers run synchronously, before the new set is published,
 * so caches of tokens verified with the old keys are gone before any lookup can use the new ones.
 */
export class KeyStore implements KeyProvider {
  readonly name: string;
  readonly #options: KeyStoreOptions;
  readonly #origin: KeyOrigin;
  #current: KeySet | undefined;
  #revision = 0;
  #started = false;
  readonly #changeListeners = new Set<(set: KeySet) => void>();
  readonly #eventListeners = new Set<(event: KeyStoreEvent) => void>();
  #poller: FilePoller | undefined;
  #remote: RemoteJwks | undefined;
  /** Why the latest load or fetch failed; cleared when a set is published. */
  #problem: string | undefined;

  constructor(options: KeyStoreOptions) {
    this.name = options.name;
    this.#options = options;
    const { file, secretFile, url, discovery, nats } = options.source;
    this.#origin =
      file !== undefined
        ? 'file'
        : secretFile !== undefined
          ? 'secretFile'
          : url !== undefined
            ? 'url'
            : discovery !== undefined
              ? 'discovery'
              : 'control-plane';
    if (file === undefined && secretFile === undefined && url === undefined && discovery === undefined && nats !== true)
      throw new TypeError(`keys for "${this.name}": no key source`);
    if (discovery !== undefined && options.issuer === undefined) throw new TypeError(`keys for "${this.name}": discovery needs the expected issuer`);
  }

  current(): KeySet | undefined {
    return this.#current;
  }

  available(): boolean {
    return this.#current !== undefined && !(this.#remote?.failing ?? false);
  }

  /** True once a key set is held. */
  get ready(): boolean {
    return this.#current !== undefined;
  }

  get origin(): KeyOrigin {
    return this.#origin;
  }

  /** Why the latest load or fetch of the set failed (discovery, JWKS), while it does; undefined once a set is published. */
  get problem(): string | undefined {
    return this.#problem;
  }

  /** Called with the new set before it becomes current. Returns an unsubscribe function. */
  onChange(listener: (set: KeySet) => void): () => void {
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }

  onEvent(listener: (event: KeyStoreEvent) => void): () => void {
    this.#eventListeners.add(listener);
    return () => this.#eventListeners.delete(listener);
  }

  /**
   * Loads the first set. A `file` or `secretFile` that cannot be read or is refused throws a
   * KeySetError naming the file, so the process can exit with it. A `url` that fails does not
   * throw: the store stays not ready and retries (readiness reports it); a sidecar should not
   * crash-loop because its IdP is briefly down. A `nats` store waits for setFromControlPlane.
   */
  async start(): Promise<void> {
    if (this.#started) throw new TypeError(`keys for "${this.name}": already started`);
    this.#started = true;
    const { file, secretFile, url, discovery, timeoutMs, cooldownSeconds, maxAgeSeconds } = this.#options.source;
    if (file !== undefined) {
      const poller = new FilePoller(
        file,
        this.#options.pollIntervalMs ?? 1_000,
        (bytes) => this.#applyJwksBytes(bytes),
        (code) => this.#reject(new KeySetError('keys_read_failed', `cannot read ${file}: ${code}`)),
      );
      let bytes: Buffer;
      try {
        bytes = await poller.readNow();
      } catch (error) {
        throw new KeySetError('keys_read_failed', `keys for "${this.name}": cannot read ${file}: ${errorCode(error)}`, { cause: error });
      }
      this.#publish(await this.#atFile(file, () => parseJwks(decodeUtf8(bytes))));
      this.#poller = poller;
      poller.start();
    } else if (secretFile !== undefined) {
      let bytes: Buffer;
      try {
        bytes = await readFile(secretFile);
      } catch (error) {
        throw new KeySetError('keys_read_failed', `keys for "${this.name}": cannot read ${secretFile}: ${errorCode(error)}`, { cause: error });
      }
      this.#publish(await this.#atFile(secretFile, async () => createSecretKeySet(bytes, this.#options.algorithms)));
      bytes.fill(0);
    } else if (url !== undefined || discovery !== undefined) {
      const issuer = this.#options.issuer!;
      const resolveUrl =
        discovery === undefined
          ? undefined
          : discoveredJwksUri({
              url: discovery,
              expectedIssuer: issuer,
              timeoutMs,
              maxAgeMs: maxAgeSeconds * 1_000,
              failing: () => this.#remote?.failing ?? true,
            });
      this.#remote = new RemoteJwks({
        url: url ?? discovery!,
        resolveUrl,
        timeoutMs,
        cooldownMs: cooldownSeconds * 1_000,
        maxAgeMs: maxAgeSeconds * 1_000,
        onSet: (set) => this.#publish(set),
        onError: (error) => this.#reject(error),
      });
      await this.#remote.start();
    }
  }

  /** Keys pushed by the control plane (already signature-checked there): swapped atomically. */
  setFromControlPlane(set: KeySet): void {
    if (this.#origin !== 'control-plane') throw new TypeError(`keys for "${this.name}" come from ${this.#origin}, not the control plane`);
    this.#publish(set);
  }

  /**
   * A JWKS body the control plane delivered (signature-checked there). A refused set is
   * reported like a refused file (same event, so the same log line and
   * `authz_key_set_rejections_total{code}`), the current set stays, and the error is thrown
   * on so the control plane refuses the document too.
   */
  async setJwksFromControlPlane(text: string): Promise<void> {
    let set: KeySet;
    try {
      set = await parseJwks(text);
    } catch (error) {
      if (error instanceof KeySetError) this.#reject(error);
      throw error;
    }
    this.setFromControlPlane(set);
  }

  reloadOnUnknownKey(): Promise<boolean> {
    return this.#remote?.reloadOnUnknownKey() ?? Promise.resolve(false);
  }

  stop(): void {
    this.#poller?.stop();
    this.#remote?.stop();
  }

  async #applyJwksBytes(bytes: Buffer): Promise<void> {
    try {
      this.#publish(await parseJwks(decodeUtf8(bytes)));
    } catch (error) {
      this.#reject(error instanceof KeySetError ? error : new KeySetError('jwks_malformed', 'key set refused', { cause: error }));
    }
  }

  /** Runs a first load, turning a refusal into an error that names the file. */
  async #atFile(path: string, load: () => Promise<KeySet>): Promise<KeySet> {
    try {
      return await load();
    } catch (error) {
      if (!(error instanceof KeySetError)) throw error;
      this.#reject(error);
      throw new KeySetError(error.code, `keys for "${this.name}" from ${path}: ${error.message}`, { cause: error });
    }
  }

  #publish(set: KeySet): void {
    this.#problem = undefined;
    if (this.#current?.sameKeysAs(set)) return;
    const next = set.withRevision(++this.#revision);
    // Listeners first (see the class comment). One failing listener must not stop the others
    // or the swap; its error resurfaces as an uncaught exception instead of vanishing.
    for (const listener of this.#changeListeners) callSafely(listener, next);
    this.#current = next;
    this.#emit({ type: 'keys-loaded', name: this.name, origin: this.#origin, revision: next.revision, kids: next.kids });
  }

  #reject(error: KeySetError): void {
    this.#problem = error.message;
    this.#emit({ type: 'keys-rejected', name: this.name, origin: this.#origin, code: error.code, message: error.message });
  }

  #emit(event: KeyStoreEvent): void {
    for (const listener of this.#eventListeners) callSafely(listener, event);
  }
}

function callSafely<T>(listener: (value: T) => void, value: T): void {
  try {
    listener(value);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new KeySetError('jwks_malformed', 'JWKS is not UTF-8');
  }
}
