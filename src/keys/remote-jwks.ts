import { performance } from 'node:perf_hooks';
import { KeySetError } from './errors.js';
import { readBounded } from './idp-fetch.js';
import { MAX_JWKS_BYTES, parseJwks } from './jwks.js';
import type { KeySet } from './key-set.js';

export interface RemoteJwksOptions {
  readonly url: string;
  /**
   * Where the set is now, asked before each fetch instead of `url` (OIDC discovery: the
   * provider's `jwks_uri`, which may move). A KeySetError it throws fails that fetch.
   */
  readonly resolveUrl?: () => Promise<string>;
  readonly timeoutMs: number;
  /** Minimum time between two fetches (attempts, successful or not) triggered by unknown kids. */
  readonly cooldownMs: number;
  /** Background refetch period; also the retry period while no fetch has succeeded yet is `cooldownMs`. */
  readonly maxAgeMs: number;
  /** A fetched set that passed every structural check. */
  readonly onSet: (set: KeySet) => void;
  readonly onError: (error: KeySetError) => void;
}

/**
 * A remote JWKS, fetched by us rather than through jose's createRemoteJWKSet: that helper
 * hands fetched keys straight to jose's own key selection, so a fetched set would skip our
 * refusals (private members, `oct`, weak RSA, duplicate kids, `use`/`key_ops`) and our
 * kid/alg selection rules, and it swaps keys internally before we could clear the token
 * cache. Here every fetched document goes through `parseJwks` and reaches verifiers only as
 * a KeySet published by the KeyStore, the same path as a file.
 *
 * Same guarantees as jose's: one in-flight fetch shared by all callers (so it is never
 * overtaken by an older one), a timeout covering the body, no redirects, and a cooldown
 * so a stream of unknown kids costs at most one fetch per `cooldownMs`.
 */
export class RemoteJwks {
  #inflight: Promise<boolean> | undefined;
  #lastAttempt = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #failing = false;

  constructor(private readonly options: RemoteJwksOptions) {}

  /** First fetch, then background refreshes. Resolves true when a set was published. */
  async start(): Promise<boolean> {
    return this.#fetchShared();
  }

  /** An unknown kid: refetch unless cooling down. Resolves true when a fetch happened. */
  async reloadOnUnknownKey(): Promise<boolean> {
    if (this.#stopped) return false;
    if (this.#inflight !== undefined) {
      await this.#inflight;
      return true;
    }
    if (performance.now() - this.#lastAttempt < this.options.cooldownMs) return false;
    await this.#fetchShared();
    return true;
  }

  /** The latest fetch failed (unreachable, bad status, refused set); the previous set, if any, is still in force. */
  get failing(): boolean {
    return this.#failing;
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #fetchShared(): Promise<boolean> {
    if (this.#inflight === undefined) {
      this.#lastAttempt = performance.now();
      this.#inflight = this.#fetchOnce().finally(() => {
        this.#inflight = undefined;
      });
    }
    return this.#inflight;
  }

  /** Never rejects: failures are reported through onError and the current set stays. */
  async #fetchOnce(): Promise<boolean> {
    let ok = false;
    try {
      const set = await parseJwks(await this.#download());
      if (!this.#stopped) {
        this.options.onSet(set);
        ok = true;
      }
    } catch (error) {
      if (!this.#stopped) this.options.onError(error instanceof KeySetError ? error : new KeySetError('jwks_fetch_failed', 'fetch failed', { cause: error }));
    }
    this.#failing = !ok;
    // After a failure retry sooner, so a sidecar that started during an IdP outage recovers.
    this.#schedule(ok ? this.options.maxAgeMs : Math.min(this.options.cooldownMs, this.options.maxAgeMs));
    return ok;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#fetchShared(), delayMs);
    this.#timer.unref();
  }

  /** The body as text. Messages never include the URL: it may carry credentials. */
  async #download(): Promise<string> {
    const { timeoutMs, resolveUrl } = this.options;
    const url = resolveUrl === undefined ? this.options.url : await resolveUrl();
    let response: Response;
    try {
      response = await fetch(url, {
        signal: AbortSignal.timeout(timeoutMs),
        // A redirect could lead anywhere, including plain http; the configured URL is the trust anchor.
        redirect: 'manual',
        headers: { accept: 'application/jwk-set+json, application/json' },
      });
    } catch (error) {
      throw new KeySetError('jwks_fetch_failed', describeFetchError(error, timeoutMs), { cause: error });
    }
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => undefined);
      throw new KeySetError('jwks_fetch_failed', `JWKS endpoint answered HTTP ${response.status}`);
    }
    try {
      return await readLimited(response, MAX_JWKS_BYTES);
    } catch (error) {
      if (error instanceof KeySetError) throw error;
      throw new KeySetError('jwks_fetch_failed', describeFetchError(error, timeoutMs), { cause: error });
    }
  }
}

async function readLimited(response: Response, limit: number): Promise<string> {
  const body = await readBounded(response, limit, () => new KeySetError('jwks_fetch_failed', `JWKS response larger than ${limit} bytes`));
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new KeySetError('jwks_malformed', 'JWKS response is not UTF-8');
  }
}

function describeFetchError(error: unknown, timeoutMs: number): string {
  const name = (error as Error | undefined)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return `JWKS request timed out after ${timeoutMs} ms`;
  const code = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return typeof code === 'string' ? `JWKS request failed (${code})` : 'JWKS request failed';
}
