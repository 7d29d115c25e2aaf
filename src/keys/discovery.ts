import { customFetch, discoveryRequest, processDiscoveryResponse, allowInsecureRequests } from 'oauth4webapi';
import { KeySetError } from './errors.js';
import { allowedIdpUrl, createIdpFetch, insecureLoopback } from './idp-fetch.js';

/** Keycloak's document is ~6 KiB with every optional member; this leaves room and refuses a flood. */
export const MAX_DISCOVERY_BYTES = 256 * 1024;

/** What the sidecar uses of an OpenID Provider's metadata. */
export interface DiscoveredMetadata {
  readonly issuer: string;
  /** https, or http on loopback; may be on another host than the issuer (Google's is). */
  readonly jwksUri: string;
}

export interface DiscoveryOptions {
  /** `keys.discovery`: the issuer URL the document is read under (`/.well-known/openid-configuration` is appended). */
  readonly url: string;
  /** The configured `iss`: the document's `issuer` must be exactly this. */
  readonly expectedIssuer: string;
  readonly timeoutMs: number;
}

/**
 * Reads the OpenID Provider metadata (OpenID Connect Discovery 1.0 §4) through oauth4webapi:
 * the library builds the request and checks the answer (status 200, JSON object, `issuer`
 * a URL matching); the IdP fetch bounds time and size and refuses redirects. On top, the
 * `issuer` must equal the configured one character for character (the library compares URLs
 * after parsing, which forgives a trailing slash that would make every token's `iss` differ),
 * and `jwks_uri` must be https (http on loopback only). Throws KeySetError `discovery_failed`.
 */
export async function discover(options: DiscoveryOptions): Promise<DiscoveredMetadata> {
  const url = new URL(options.url);
  const fetchBounded = createIdpFetch({ timeoutMs: options.timeoutMs, maxBytes: MAX_DISCOVERY_BYTES, what: 'discovery document' });
  let metadata: Record<string, unknown>;
  try {
    const response = await discoveryRequest(url, { [customFetch]: fetchBounded, [allowInsecureRequests]: insecureLoopback(url), algorithm: 'oidc' });
    metadata = await processDiscoveryResponse(new URL(options.expectedIssuer), response);
  } catch (error) {
    throw new KeySetError('discovery_failed', reasonOf(error), { cause: error });
  }
  if (metadata.issuer !== options.expectedIssuer) throw new KeySetError('discovery_failed', 'discovery document: "issuer" is not the configured issuer');
  const jwksUri = metadata.jwks_uri;
  if (typeof jwksUri !== 'string' || !URL.canParse(jwksUri))
    throw new KeySetError('discovery_failed', 'discovery document: "jwks_uri" is missing or not a URL');
  if (!allowedIdpUrl(new URL(jwksUri)))
    throw new KeySetError('discovery_failed', 'discovery document: "jwks_uri" is not https (plain http is allowed on loopback only)');
  return Object.freeze({ issuer: options.expectedIssuer, jwksUri });
}

/** The discovery's failure as one line: the library's messages name the member, never a value. */
function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.startsWith('discovery document') ? message : `discovery document: ${message.replace(/^"response" /, '')}`;
}
