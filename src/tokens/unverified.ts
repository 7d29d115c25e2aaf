/**
 * Credentials read the way the sidecar reads them, minus what cannot be repeated offline, for
 * `authzctl policy replay`, which decides recorded requests again. The authenticator's token
 * sources, routing and checks — size, structure, protected header (alg allow-list, `typ`),
 * strict JSON, `iss`, `aud`, the claims' shapes, a service token's SPIFFE subject — without the
 * signature (no keys needed), the time claims (recorded tokens have expired since) and
 * revocations. Never on the request path: a token read this way proves nothing.
 */
import type { IssuerConfig, ServiceTokensConfig } from '../config/index.js';
import type { RequestView } from '../request/index.js';
import { checkRegisteredClaims, toVerifiedToken } from './claims.js';
import { decodeJsonObject, splitCompact } from './compact.js';
import { TokenSources } from './extract.js';
import { checkProtectedHeader } from './header.js';
import { authContext, chooseByIssuer, UserTokenRoutes } from './routes.js';
import { SERVICE_ISSUER_NAME, serviceTokenAudiences, spiffeSubject } from './service.js';
import type { AuthContext, VerifiedToken } from './types.js';
import { TokenError } from './errors.js';

export interface CredentialDecoderOptions {
  readonly issuers: readonly IssuerConfig[];
  readonly serviceTokens?: ServiceTokensConfig | undefined;
  /** The sidecar's service (default service-token audience). */
  readonly service: string;
}

export interface CredentialDecoder {
  /** The caller as the sidecar would see them, signatures and times aside; throws TokenError where the sidecar would refuse. */
  decode(view: RequestView): AuthContext;
}

/** What one issuer (or the service-token trust domain) accepts, as its verifier would check it. */
interface Reader {
  readonly name: string;
  readonly issuer: string | undefined;
  readonly audiences: ReadonlySet<string>;
  readonly algorithms: ReadonlySet<string>;
  readonly typ: string | undefined;
  readonly maxTokenBytes: number;
  /** An introspection issuer: its opaque tokens say nothing without the IdP. */
  readonly opaque?: boolean;
}

export function createCredentialDecoder(options: CredentialDecoderOptions): CredentialDecoder {
  const readers = options.issuers.map((cfg): Reader => ({
    name: cfg.name,
    issuer: cfg.issuer,
    audiences: new Set(cfg.audiences),
    algorithms: new Set(cfg.algorithms),
    typ: cfg.typ,
    maxTokenBytes: cfg.maxTokenBytes,
    opaque: cfg.introspection !== undefined,
  }));
  const routes = new UserTokenRoutes(options.issuers, readers);
  const st = options.serviceTokens;
  const service: Reader | undefined = st && {
    name: SERVICE_ISSUER_NAME,
    issuer: st.issuer,
    audiences: new Set(serviceTokenAudiences(st, options.service)),
    algorithms: new Set(st.algorithms),
    typ: undefined,
    maxTokenBytes: st.maxTokenBytes,
  };
  const serviceSources = st && new TokenSources([{ header: st.header }]);

  return Object.freeze({
    decode(view: RequestView): AuthContext {
      // In the authenticator's order: every extraction before any token is read.
      const found = routes.find(view);
      const serviceToken = serviceSources?.find(view)[0]?.token ?? null;
      const user =
        found === null ? null : read(found.candidates.length === 1 ? found.candidates[0] : chooseByIssuer(found.token, found.candidates), found.token);
      const svc = service !== undefined && serviceToken !== null ? spiffeSubject(read(service, serviceToken), st!.trustDomain) : null;
      return authContext(view, user, svc);
    },
  });
}

/** The verifier's checks in its order (tokens/verify.ts), without the key, the signature and the clock. */
function read(reader: Reader, token: string): VerifiedToken {
  if (reader.opaque === true)
    throw new TokenError('keys_unavailable', 'a token of an introspection issuer cannot be read offline', { issuerName: reader.name });
  const [headerSegment, payloadSegment] = splitCompact(token, reader.maxTokenBytes);
  checkProtectedHeader(decodeJsonObject(headerSegment, 'token_header_invalid', 'header'), reader.algorithms, reader.typ);
  const payload = decodeJsonObject(payloadSegment, 'token_claims_invalid', 'payload');
  checkRegisteredClaims(payload, { issuer: reader.issuer, audiences: reader.audiences, nowSeconds: null, skewSeconds: 0 });
  return toVerifiedToken(reader.name, payload, null, 0);
}
