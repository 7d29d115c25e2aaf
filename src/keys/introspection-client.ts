import { readFile } from 'node:fs/promises';
import { importJWK, type JWK } from 'jose';
import {
  allowInsecureRequests,
  ClientSecretBasic,
  customFetch,
  introspectionRequest,
  PrivateKeyJwt,
  processIntrospectionResponse,
  type AuthorizationServer,
  type Client,
  type ClientAuth,
} from 'oauth4webapi';
import type { IntrospectionConfig } from '../config/index.js';
import { KeySetError } from './errors.js';
import { createIdpFetch, IdpHttpError, insecureLoopback } from './idp-fetch.js';

/** An introspection answer is a few hundred bytes; a signed one a few KiB. */
export const MAX_INTROSPECTION_BYTES = 64 * 1024;

/** The introspection endpoint could not give a usable answer. The message never holds the token, the secret or the body. */
export class IntrospectionError extends Error {
  override readonly name = 'IntrospectionError';
}

/** What the endpoint said about one token. */
export interface IntrospectionAnswer {
  /** The answer's members (RFC 7662 §2.2); `active` is a boolean (the library refuses anything else). */
  readonly claims: Readonly<Record<string, unknown>>;
  /** The compact JWS of an RFC 9701 answer, whose signature the caller still has to check; undefined for plain JSON. */
  readonly signed: string | undefined;
}

export interface IntrospectionClient {
  /** Rejects with IntrospectionError only. */
  introspect(token: string): Promise<IntrospectionAnswer>;
}

export interface IntrospectionClientOptions {
  /** The configured `iss`: the audience of a private_key_jwt assertion and the `iss` a signed answer must carry. */
  readonly issuer: string;
  readonly config: IntrospectionConfig;
  readonly clientAuth: ClientAuth;
  /** Signature algorithms a signed answer may use (the issuer's `algorithms`). */
  readonly algorithms: readonly string[];
}

/**
 * RFC 7662 token introspection through oauth4webapi: the library writes the request (form body,
 * client authentication, the Accept header asking for a signed answer when configured) and
 * checks the answer (status 200, JSON object or `application/token-introspection+jwt` with its
 * `typ`, `iss`, `aud` = our client id, `iat`, a boolean `active`); the IdP fetch bounds time and
 * size and refuses redirects. The signature of a signed answer is checked by the caller
 * against the issuer's key set (tokens/introspection.ts), with the rules every token gets.
 */
export function createIntrospectionClient(options: IntrospectionClientOptions): IntrospectionClient {
  const { config } = options;
  const endpoint = new URL(config.url);
  const as: AuthorizationServer = {
    issuer: options.issuer,
    introspection_endpoint: config.url,
    introspection_signing_alg_values_supported: [...options.algorithms],
  };
  const client: Client = { client_id: config.clientId };
  const fetchBounded = createIdpFetch({ timeoutMs: config.timeoutMs, maxBytes: MAX_INTROSPECTION_BYTES, what: 'introspection' });
  const requestOptions = { [customFetch]: fetchBounded, [allowInsecureRequests]: insecureLoopback(endpoint), requestJwtResponse: config.jwtResponse };

  return Object.freeze({
    async introspect(token: string): Promise<IntrospectionAnswer> {
      try {
        const response = await introspectionRequest(as, client, options.clientAuth, token, requestOptions);
        // The body is already in memory (the IdP fetch read it): a copy for the signature check.
        const signed = response.headers.get('content-type')?.split(';')[0].trim().toLowerCase() === 'application/token-introspection+jwt';
        const text = signed ? await response.clone().text() : undefined;
        const claims = (await processIntrospectionResponse(as, client, response)) as unknown as Record<string, unknown>;
        return { claims, signed: text?.trim() };
      } catch (error) {
        throw new IntrospectionError(reasonOf(error), { cause: error });
      }
    },
  });
}

/**
 * The client authentication of `introspection`: the secret file (its content, less a trailing
 * newline) for client_secret_basic, or the private JWK for private_key_jwt. Read once at start;
 * a file that cannot be read or used throws KeySetError, reported on the config field.
 */
export async function loadClientAuth(config: IntrospectionConfig): Promise<ClientAuth> {
  if (config.clientSecretFile !== undefined) {
    const secret = (await readKeyFile(config.clientSecretFile)).replace(/\r?\n$/, '');
    if (secret === '') throw new KeySetError('jwks_malformed', 'the client secret file is empty');
    return ClientSecretBasic(secret);
  }
  const file = config.privateKeyJwt!.keyFile;
  let jwk: JWK;
  try {
    jwk = JSON.parse(await readKeyFile(file)) as JWK;
  } catch (error) {
    if (error instanceof KeySetError) throw error;
    throw new KeySetError('jwks_malformed', 'not a JSON private JWK');
  }
  if (typeof jwk !== 'object' || jwk === null || typeof jwk.d !== 'string') throw new KeySetError('jwks_malformed', 'must be a private JWK (with "d")');
  if (typeof jwk.alg !== 'string' || jwk.alg.startsWith('HS') || jwk.alg === 'none')
    throw new KeySetError('jwks_alg_mismatch', 'the private JWK must name its signature algorithm ("alg", e.g. ES256 or RS256)');
  try {
    const key = await importJWK(jwk, jwk.alg);
    if (!(key instanceof CryptoKey)) throw new TypeError('not an asymmetric key');
    return PrivateKeyJwt({ key, kid: jwk.kid });
  } catch {
    throw new KeySetError('jwks_unsupported_key', `the private JWK cannot sign with ${jwk.alg}`);
  }
}

async function readKeyFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new KeySetError('keys_read_failed', `cannot read ${file}`, { cause: error });
  }
}

/** The library's and the fetch's messages name what is wrong, never a value; anything else is summarised. */
function reasonOf(error: unknown): string {
  if (error instanceof IdpHttpError) return error.message;
  const message = error instanceof Error ? error.message.replace(/^"response" /, '') : 'failed';
  const status = (error as { cause?: { status?: unknown } }).cause;
  return `introspection: ${message}${typeof (status as Response | undefined)?.status === 'number' ? ` (HTTP ${(status as Response).status})` : ''}`;
}
