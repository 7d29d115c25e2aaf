/**
 * The one way the sidecar talks HTTP to an identity provider (discovery documents, token
 * introspection), handed to oauth4webapi as its `customFetch`: the library builds requests and
 * checks responses; this bounds them. A URL must be https, or http on loopback (tests, dev);
 * redirects are never followed (a 3xx comes back as it is, and the library refuses its status);
 * one timeout covers connecting, the headers and the whole body; a body over `maxBytes` is cut
 * off. The returned Response holds the body already read, so nothing after this can wait on
 * the network. Messages never include the URL (it may carry credentials) or the body.
 */

export class IdpHttpError extends Error {
  override readonly name = 'IdpHttpError';
}

export interface IdpFetchOptions {
  readonly timeoutMs: number;
  readonly maxBytes: number;
  /** What is being fetched, for messages: "discovery document", "introspection". */
  readonly what: string;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** True for https URLs and for http ones on a loopback host; everything else is refused. */
export function allowedIdpUrl(url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname));
}

/** True when the URL is plain http (on loopback, or allowedIdpUrl would refuse it): oauth4webapi must be told to allow it. */
export function insecureLoopback(url: URL): boolean {
  return url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname);
}

export type IdpFetch = (url: string, init: RequestInit) => Promise<Response>;

export function createIdpFetch(options: IdpFetchOptions): IdpFetch {
  const { timeoutMs, maxBytes, what } = options;
  return async (url: string, init: RequestInit): Promise<Response> => {
    if (!allowedIdpUrl(new URL(url))) throw new IdpHttpError(`${what}: refused a URL that is not https (plain http is allowed on loopback only)`);
    const signal = AbortSignal.timeout(timeoutMs);
    let response: Response;
    try {
      response = await fetch(url, { ...init, redirect: 'manual', signal });
    } catch (error) {
      throw new IdpHttpError(describe(what, error, timeoutMs), { cause: error });
    }
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel().catch(() => undefined);
      throw new IdpHttpError(`${what}: answered a redirect (HTTP ${response.status}), which is not followed`);
    }
    let body: Buffer;
    try {
      body = await readLimited(response, maxBytes, what);
    } catch (error) {
      if (error instanceof IdpHttpError) throw error;
      throw new IdpHttpError(describe(what, error, timeoutMs), { cause: error });
    }
    return new Response(body.byteLength === 0 && nullBodyStatus(response.status) ? null : new Uint8Array(body), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}

function nullBodyStatus(status: number): boolean {
  return status === 204 || status === 205 || status === 304;
}

async function readLimited(response: Response, limit: number, what: string): Promise<Buffer> {
  return readBounded(response, limit, () => new IdpHttpError(`${what}: response larger than ${limit} bytes`));
}

/**
 * A response body of at most `limit` bytes: refused by its declared length before reading,
 * else by counting while reading, so an answer that never ends or keeps growing costs at most
 * `limit` bytes. `tooLarge` makes the error thrown either way.
 */
export async function readBounded(response: Response, limit: number, tooLarge: () => Error): Promise<Buffer> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > limit) {
    await response.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  const reader = response.body?.getReader();
  if (reader === undefined) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

function describe(what: string, error: unknown, timeoutMs: number): string {
  const name = (error as Error | undefined)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return `${what}: no complete answer within ${timeoutMs} ms`;
  const code = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return typeof code === 'string' ? `${what}: request failed (${code})` : `${what}: request failed`;
}
