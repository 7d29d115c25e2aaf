import { z } from 'zod';
import { JWS_ALGORITHM_NAMES } from '../shared/index.js';

/**
 * The sidecar's config file (YAML or JSON). Field names are a contract (docs/configuration.md);
 * every field is documented in docs/configuration.md. Objects are strict so a
 * typo is an error that names the field rather than a silently ignored setting.
 */

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be "host:port"');
const headerName = z.string().regex(/^[a-z0-9!#$%&'*+.^_`|~-]+$/, 'must be a lower-case HTTP header name');
const dottedPath = z.string().regex(/^[A-Za-z0-9_:$@-]+(\.[A-Za-z0-9_:$@-]+)*$/, 'must be a dotted claim path like "realm_access.roles"');

/** Exactly the names of the algorithm table (shared/jws-algorithms.ts); `none` is not one. */
const algorithm = z.enum(JWS_ALGORITHM_NAMES, {
  error: (issue) => `unsupported algorithm ${JSON.stringify(issue.input)} (allowed: ${JWS_ALGORITHM_NAMES.join(', ')})`,
});

export const tokenSourceSchema = z.union(
  [
    z.strictObject({ header: headerName, prefix: z.string().max(64).optional() }),
    z.strictObject({ cookie: z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'must be a cookie name') }),
  ],
  { error: 'must be { header: NAME, prefix?: "Bearer " } or { cookie: NAME }' },
);

export const keySourceSchema = z
  .strictObject({
    /** JWKS file, re-read when it changes. */
    file: z.string().min(1).optional(),
    /** Remote JWKS (https, or http on loopback for tests and dev). */
    url: z.url({ protocol: /^https?$/ }).optional(),
    /** OIDC discovery: the issuer URL; its `/.well-known/openid-configuration` names the JWKS (`jwks_uri`). */
    discovery: z.url({ protocol: /^https?$/ }).optional(),
    /** Shared secret file for HS* issuers (raw bytes, at least 32). */
    secretFile: z.string().min(1).optional(),
    /** Keys pushed over the NATS control plane. */
    nats: z.literal(true).optional(),
    /** Remote JWKS and discovery: fetch timeout. */
    timeoutMs: z.number().int().min(100).max(60_000).default(5_000),
    /** Remote JWKS: minimum time between refetches triggered by an unknown kid. */
    cooldownSeconds: z.number().int().min(1).max(3_600).default(30),
    /** Remote JWKS: refetch in the background after this age even without an unknown kid (discovery: the document too). */
    maxAgeSeconds: z.number().int().min(10).max(86_400).default(600),
  })
  .refine((k) => [k.file, k.url, k.discovery, k.secretFile, k.nats].filter((v) => v !== undefined).length === 1, {
    error: 'must name exactly one of file, url, discovery, secretFile, nats',
  });

/**
 * Opaque tokens checked by the issuer's RFC 7662 introspection endpoint, with client
 * authentication (a client secret, or a private_key_jwt assertion). Answers are cached by a
 * keyed hash of the token: active ones until min(`exp`, `cacheSeconds`), inactive ones for
 * `negativeCacheSeconds`.
 */
export const introspectionSchema = z
  .strictObject({
    /** The introspection endpoint (https, or http on loopback for tests and dev). */
    url: z.url({ protocol: /^https?$/ }),
    clientId: z.string().min(1),
    /** The client secret, sent with HTTP Basic (client_secret_basic); the file holds the secret alone. */
    clientSecretFile: z.string().min(1).optional(),
    /** client authentication with a signed assertion (RFC 7523): the private JWK (with `alg`, and `kid` if the IdP needs one). */
    privateKeyJwt: z.strictObject({ keyFile: z.string().min(1) }).optional(),
    /** One introspection call, body included; over it the Check is 503 keys_unavailable (or fail-open). */
    timeoutMs: z.number().int().min(100).max(60_000).default(2_000),
    /** Longest an active answer is reused (it is never reused past the token's `exp`). */
    cacheSeconds: z.number().int().min(0).max(86_400).default(300),
    /** How long an inactive answer is remembered, so a client retrying a dead token costs no call. */
    negativeCacheSeconds: z.number().int().min(0).max(3_600).default(10),
    /** Ask for RFC 9701 signed answers (application/token-introspection+jwt), verified with the issuer's `keys`. */
    jwtResponse: z.boolean().default(false),
  })
  .refine((i) => (i.clientSecretFile === undefined) !== (i.privateKeyJwt === undefined), {
    error: 'must name exactly one of clientSecretFile, privateKeyJwt',
  });

const clockSkewSeconds = z.number().int().min(0).max(300).default(30);
const maxTokenBytes = z.number().int().min(256).max(65_536).default(8_192);
/**
 * Opt-in fail-open: when this issuer's keys are unavailable (none loaded, or a token's kid is
 * unknown while the remote JWKS cannot be fetched) the request is allowed without identity
 * instead of denied 503. Off by default; counted in authz_fail_open_total.
 */
const failOpen = z.boolean().default(false);

export const issuerSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'must be a short lower-case name'),
  issuer: z.string().min(1),
  audiences: z.array(z.string().min(1)).min(1),
  algorithms: z.array(algorithm).min(1).default(['ES256', 'RS256']),
  /** The issuer's keys: required for JWTs; with `introspection`, only for `jwtResponse`. */
  keys: keySourceSchema.optional(),
  /** Opaque tokens of this issuer are introspected instead of verified locally. */
  introspection: introspectionSchema.optional(),
  from: z
    .array(tokenSourceSchema)
    .min(1)
    .default([{ header: 'authorization', prefix: 'Bearer ' }]),
  /** claim path -> upstream header; arrays are joined with ",". */
  claimsToHeaders: z.record(dottedPath, headerName).default({}),
  clockSkewSeconds,
  maxTokenBytes,
  /** Required JOSE `typ`, e.g. "at+jwt" (RFC 9068); compared case-insensitively, "application/" prefix optional. */
  typ: z.string().min(1).optional(),
  failOpen,
});

export const serviceTokensSchema = z.strictObject({
  trustDomain: z.string().regex(/^[a-z0-9._-]+$/, 'must be a SPIFFE trust domain like "cluster.local"'),
  header: headerName.default('x-service-token'),
  keys: keySourceSchema,
  /** Defaults to [service]. */
  audiences: z.array(z.string().min(1)).min(1).optional(),
  /** Expected `iss`; when absent any issuer is accepted (the key set is what is trusted). */
  issuer: z.string().min(1).optional(),
  algorithms: z.array(algorithm).min(1).default(['ES256', 'EdDSA']),
  clockSkewSeconds,
  maxTokenBytes,
  failOpen,
});

/**
 * API keys: a header whose value is a key `ak_<id>_<secret>`, checked against entries that
 * hold only its hash (docs/identity.md#api-keys). The caller fills the user-token slot, so
 * `from.issuers`, `require.scopes` and roles reach it unchanged.
 */
export const apiKeysSchema = z.strictObject({
  /** The set's name: logs, metrics and its NATS key `apikeys.<name>`. Default: `service`. */
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'must be a short lower-case name')
    .optional(),
  /** The whole header value is the key. */
  header: headerName.default('x-api-key'),
  /** The caller's issuer as policies see it (`from.issuers`, `request.auth.issuer`, `x-auth-issuer`). */
  issuer: z.string().min(1).default('api-key'),
  keys: z
    .strictObject({ file: z.string().min(1).optional(), nats: z.literal(true).optional() })
    .refine((k) => (k.file === undefined) !== (k.nats === undefined), { error: 'must name exactly one of file, nats' }),
});

const serviceName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'must be a short lower-case service name');

/** Where one service's policy comes from. */
export const policySourceSchema = z
  .strictObject({ file: z.string().min(1).optional(), nats: z.literal(true).optional(), shadowFile: z.string().min(1).optional() })
  .refine((p) => (p.file === undefined) !== (p.nats === undefined), { error: 'must name exactly one of file, nats' })
  // With nats: true the shadow is published to the bucket (authzctl publish policy --shadow).
  .refine((p) => p.shadowFile === undefined || p.file !== undefined, {
    error: 'needs policy.file; with policy.nats the shadow policy comes from the bucket (authzctl publish policy --shadow)',
    path: ['shadowFile'],
  });

/** A host name as a gateway matches it: lower-case DNS labels, or `*.` and a suffix; no port. */
const hostPattern = z
  .string()
  .max(253)
  .regex(/^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, 'must be a lower-case host name without port, or "*." and one');

/**
 * Gateway mode: one sidecar, the policies of many services; each Check is for the service
 * named by the route's `context_extensions.service`, or owning the request's host.
 */
export const gatewaySchema = z.strictObject({
  selectBy: z.enum(['contextExtension', 'host']).default('contextExtension'),
  services: z
    .array(
      z.strictObject({
        name: serviceName,
        /** With `selectBy: host`: the hosts this service answers (exact, or `*.suffix`). */
        hosts: z.array(hostPattern).max(1_000).default([]),
        policy: policySourceSchema,
      }),
    )
    .min(1)
    .max(1_000),
});

export const configSchema = z.strictObject({
  /** The protected service; in gateway mode, the gateway's own name (status, default service-token audience). */
  service: serviceName,
  grpc: z
    .strictObject({
      address: hostPort.default('127.0.0.1:9191'),
      /** Largest CheckRequest accepted (bytes). */
      maxMessageBytes: z
        .number()
        .int()
        .min(4_096)
        .max(16 * 1024 * 1024)
        .default(1024 * 1024),
      /** From accept to the client's HTTP/2 preface (magic and SETTINGS); a connection still without it is closed. */
      handshakeTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
      /** Open connections (in handshake or established); one more is closed on accept. */
      maxConnections: z.number().int().min(1).max(65_536).default(1_024),
      /** SETTINGS_MAX_CONCURRENT_STREAMS advertised on each connection. */
      maxConcurrentStreams: z.number().int().min(1).max(100_000).default(1_000),
    })
    .prefault({}),
  admin: z
    .strictObject({
      address: hostPort.default('127.0.0.1:9192'),
      // The event-loop delay monitor wakes the process this often, busy or idle: at 10 ms it
      // was most of an idle sidecar's CPU. A stall longer than the interval is still recorded.
      eventLoopResolutionMs: z.number().int().min(10).max(1000).default(100),
    })
    .prefault({}),
  /**
   * HTTP mode (docs/http-mode.md): forward-auth endpoints for Envoy's http_service, nginx
   * auth_request, Traefik and Caddy, answered by the same Check handler. Off when absent.
   */
  http: z
    .strictObject({
      address: hostPort.default('127.0.0.1:9193'),
      /** Open connections; more are closed on accept. */
      maxConnections: z.number().int().min(1).max(65_536).default(1_024),
      /** From a request's first byte to the end of its head (no body is read). */
      headersTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
      /** Idle keep-alive connections are closed after this; keep it above the proxy's own idle timeout. */
      keepAliveTimeoutMs: z.number().int().min(1_000).max(600_000).default(75_000),
    })
    .optional(),
  issuers: z.array(issuerSchema).default([]),
  serviceTokens: serviceTokensSchema.optional(),
  apiKeys: apiKeysSchema.optional(),
  /** The policy of `service`; a gateway names one per service instead (`gateway`). */
  policy: policySourceSchema.optional(),
  gateway: gatewaySchema.optional(),
  tokenCache: z.strictObject({ maxEntries: z.number().int().min(0).max(10_000_000).default(10_000) }).prefault({}),
  request: z
    .strictObject({
      maxHeaders: z.number().int().min(8).max(10_000).default(200),
      maxHeaderBytes: z
        .number()
        .int()
        .min(1_024)
        .max(1024 * 1024)
        .default(64 * 1024),
    })
    .prefault({}),
  /** Polling interval for local key and policy files. */
  watch: z.strictObject({ intervalMs: z.number().int().min(50).max(60_000).default(1_000) }).prefault({}),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      /** Log every decision at info (denies are always logged). */
      allows: z.boolean().default(false),
      /**
       * At most this many deny lines per second (the rest are counted and reported as
       * `suppressed` on the next line); 0 logs every deny. Metrics and the decision log see all.
       */
      denyLinesPerSecond: z.number().int().min(0).max(1_000_000).default(100),
    })
    .prefault({}),
  shutdown: z.strictObject({ drainSeconds: z.number().min(0).max(300).default(10) }).prefault({}),
  /**
   * What the sidecar does about its own memory. V8's flags are not here: they are node's
   * command line (the image's ENTRYPOINT, `npm start`), fixed before the sidecar starts and
   * never changed at run time; `--check-config` prints both.
   */
  runtime: z
    .strictObject({
      /**
       * After a burst of Checks, once a second passes with none, two full collections while
       * nothing waits (and one more after a minute of quiet, giving back half of the fixed new
       * space). Needs node's --expose-gc; without it the sidecar logs a warning and runs
       * without. Measured: the first collection after a burst went from 95–122 ms inside the
       * next burst to nothing there; RSS 20 s after caching 100,000 tokens 105 MiB instead of
       * 174–199 MiB (docs/performance.md).
       */
      idleCollection: z.boolean().default(true),
    })
    .prefault({}),
  nats: z
    .strictObject({
      servers: z.array(z.string().min(1)).min(1),
      /** false: dial the servers in the listed order (e.g. the zone-local node first). */
      randomizeServers: z.boolean().default(true),
      bucket: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/)
        .default('authz'),
      signers: z.array(z.string().min(1)).min(1),
      cacheDir: z.string().min(1).default('/var/lib/authz-sidecar'),
      /** Subject prefix for status and decision subjects. */
      subjectPrefix: z
        .string()
        .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'must be NATS subject tokens like "authz"')
        .default('authz'),
      /** This sidecar's name in fleet status; default POD_NAME, else HOSTNAME, else host-pid. */
      instance: z
        .string()
        .regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be letters, digits, "_" or "-"')
        .optional(),
      statusIntervalSeconds: z.number().min(1).max(3_600).default(10),
      /**
       * How often each followed key's newest revision is read to confirm the watch delivered
       * it; a key behind on two checks in a row is applied from the check. Bounds how long a
       * watch that died with a NATS node can go unnoticed.
       */
      checkIntervalMs: z.number().int().min(100).max(60_000).default(500),
      decisions: z
        .strictObject({
          enabled: z.boolean().default(false),
          /** Fraction of allows published; denies are always published. */
          sampleAllows: z.number().min(0).max(1).default(0.01),
          /** Records held while NATS is slow or gone; the oldest are dropped beyond this. */
          maxBuffer: z.number().int().min(0).max(1_000_000).default(10_000),
        })
        .prefault({}),
    })
    .optional(),
});

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type IssuerConfig = Config['issuers'][number];
export type ServiceTokensConfig = NonNullable<Config['serviceTokens']>;
export type ApiKeysConfig = NonNullable<Config['apiKeys']>;
export type KeySourceConfig = z.output<typeof keySourceSchema>;
export type IntrospectionConfig = z.output<typeof introspectionSchema>;
export type TokenSource = IssuerConfig['from'][number];
export type PolicySourceConfig = z.output<typeof policySourceSchema>;
export type GatewayConfig = z.output<typeof gatewaySchema>;
