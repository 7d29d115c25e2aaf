import { performance } from 'node:perf_hooks';
import { discover, type DiscoveredMetadata } from './discovery.js';

export interface DiscoveredJwksUriOptions {
  readonly url: string;
  readonly expectedIssuer: string;
  readonly timeoutMs: number;
  /** The document is read again after this age (the key set's `maxAgeSeconds`). */
  readonly maxAgeMs: number;
  /** True while the latest JWKS fetch failed: the `jwks_uri` may have moved, so the document is read again. */
  readonly failing: () => boolean;
}

/**
 * The `jwks_uri` of a provider, for RemoteJwks's `resolveUrl`: the discovery document is read
 * on the first fetch, again once it is `maxAgeMs` old, and again whenever the previous JWKS
 * fetch failed. Between those, a refetch (background or an unknown kid, with RemoteJwks's
 * cooldown) costs one request, to the JWKS only.
 */
export function discoveredJwksUri(options: DiscoveredJwksUriOptions): () => Promise<string> {
  let metadata: DiscoveredMetadata | undefined;
  let readAt = Number.NEGATIVE_INFINITY;
  return async () => {
    if (metadata === undefined || options.failing() || performance.now() - readAt >= options.maxAgeMs) {
      metadata = await discover({ url: options.url, expectedIssuer: options.expectedIssuer, timeoutMs: options.timeoutMs });
      readAt = performance.now();
    }
    return metadata.jwksUri;
  };
}
