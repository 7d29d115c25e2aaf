import { errorCode, FilePoller } from '../shared/index.js';
import { ApiKeySet, parseApiKeys } from './api-keys.js';
import { KeySetError, type KeySetErrorCode } from './errors.js';

export type ApiKeyOrigin = 'file' | 'control-plane';

/** What the store reports; the application turns these into logs and metrics. Never a hash. */
export type ApiKeyStoreEvent =
  | { readonly type: 'api-keys-loaded'; readonly name: string; readonly origin: ApiKeyOrigin; readonly revision: number; readonly count: number }
  | { readonly type: 'api-keys-rejected'; readonly name: string; readonly origin: ApiKeyOrigin; readonly code: KeySetErrorCode; readonly message: string };

export interface ApiKeyStoreOptions {
  /** The set's name (`apiKeys.name`): carried by every event. */
  readonly name: string;
  /** `{ file }`: read at start and polled; `{ nats: true }`: pushed by the control plane. */
  readonly source: { readonly file?: string | undefined; readonly nats?: true | undefined };
  /** Stat polling period for a file (config `watch.intervalMs`). */
  readonly pollIntervalMs?: number;
}

/**
 * The API key set in force. Sets are immutable and swapped whole, so a Check sees the old set
 * or the new one; a refused update (a bad file, a bad document) keeps the previous set and is
 * reported. Like KeyStore, but for API key entries rather than verification keys.
 */
export class ApiKeyStore {
  readonly name: string;
  readonly #options: ApiKeyStoreOptions;
  readonly #origin: ApiKeyOrigin;
  #current: ApiKeySet | undefined;
  #revision = 0;
  #poller: FilePoller | undefined;
  readonly #listeners = new Set<(event: ApiKeyStoreEvent) => void>();

  constructor(options: ApiKeyStoreOptions) {
    if ((options.source.file === undefined) === (options.source.nats === undefined)) throw new TypeError(`API keys "${options.name}": name one of file, nats`);
    this.name = options.name;
    this.#options = options;
    this.#origin = options.source.file !== undefined ? 'file' : 'control-plane';
  }

  current(): ApiKeySet | undefined {
    return this.#current;
  }

  /** True once a set is held. */
  get ready(): boolean {
    return this.#current !== undefined;
  }

  onEvent(listener: (event: ApiKeyStoreEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Reads a file source once and starts polling it; a file that cannot be read or is refused
   * throws a KeySetError naming it, so the process can exit with it. A control-plane store
   * waits for setFromControlPlane.
   */
  async start(): Promise<void> {
    const file = this.#options.source.file;
    if (file === undefined || this.#poller !== undefined) return;
    const poller = new FilePoller(
      file,
      this.#options.pollIntervalMs ?? 1_000,
      async (bytes) => this.#applyFile(bytes),
      (code) => this.#reject(new KeySetError('keys_read_failed', `cannot read ${file}: ${code}`)),
    );
    let bytes: Buffer;
    try {
      bytes = await poller.readNow();
    } catch (error) {
      throw new KeySetError('keys_read_failed', `API keys "${this.name}": cannot read ${file}: ${errorCode(error)}`, { cause: error });
    }
    try {
      this.#publish(parseApiKeys(bytes.toString('utf8')));
    } catch (error) {
      if (!(error instanceof KeySetError)) throw error;
      this.#reject(error);
      throw new KeySetError(error.code, `API keys "${this.name}" from ${file}: ${error.message}`, { cause: error });
    }
    this.#poller = poller;
    poller.start();
  }

  /**
   * A document body the control plane delivered (signature-checked there). A refused body is
   * reported like a refused file, the current set stays, and the error is thrown on so the
   * control plane refuses the document too.
   */
  setFromControlPlane(body: unknown): void {
    if (this.#origin !== 'control-plane') throw new TypeError(`API keys "${this.name}" come from a file, not the control plane`);
    let set: ApiKeySet;
    try {
      set = parseApiKeys(body);
    } catch (error) {
      if (error instanceof KeySetError) this.#reject(error);
      throw error;
    }
    this.#publish(set);
  }

  stop(): void {
    this.#poller?.stop();
  }

  #applyFile(bytes: Buffer): void {
    try {
      this.#publish(parseApiKeys(bytes.toString('utf8')));
    } catch (error) {
      this.#reject(error instanceof KeySetError ? error : new KeySetError('api_keys_malformed', 'API key set refused', { cause: error }));
    }
  }

  #publish(set: ApiKeySet): void {
    if (this.#current?.sameEntriesAs(set)) return;
    const next = set.withRevision(++this.#revision);
    this.#current = next;
    this.#emit({ type: 'api-keys-loaded', name: this.name, origin: this.#origin, revision: next.revision, count: next.size });
  }

  #reject(error: KeySetError): void {
    this.#emit({ type: 'api-keys-rejected', name: this.name, origin: this.#origin, code: error.code, message: error.message });
  }

  #emit(event: ApiKeyStoreEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
