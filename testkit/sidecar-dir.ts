/**
 * The standard sidecar directory of the tests and the benchmark, written in one place: the
 * example keys (deploy/examples/keys) in keys/, a policy.yaml, and a config.yaml like
 * deploy/examples/config.yaml (service orders, the idp issuer on keys/idp.jwks.json, service
 * tokens on keys/mesh.jwks.json, the local policy file), with what a test or a scenario varies
 * as options. Ports are left out: startSidecar and the bench choose them.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLES } from './paths.js';
import { tempDir, writeConfig } from './sidecar.js';
import { AUDIENCE, IDP_ISSUER } from './tokens.js';

export interface SidecarConfigOptions {
  /**
   * `example` (the default): the idp issuer as deploy/examples/config.yaml has it (a bearer
   * token in Authorization or the access_token cookie; tenant and roles claims to headers),
   * and service tokens. `bare`: the idp issuer alone, with the default token source
   * (Authorization: Bearer) and no claim headers; no service tokens.
   */
  readonly issuer?: 'example' | 'bare';
  /** The idp issuer's audiences ([orders] unless told). */
  readonly audiences?: readonly string[];
  /** The example issuer's claimsToHeaders, instead of { tenant: x-tenant-id, roles: x-auth-roles }. */
  readonly claimsToHeaders?: Readonly<Record<string, string>>;
  /** More entries of `issuers:`, as YAML list items indented by two spaces. */
  readonly moreIssuers?: string;
  /** `grpc:` settings (handshakeTimeoutMs, maxConnections, maxConcurrentStreams, maxMessageBytes). */
  readonly grpc?: Readonly<Record<string, number>>;
  /** An `http:` section (HTTP mode) on 127.0.0.1:0, with these fields besides the address. */
  readonly http?: Readonly<Record<string, number>>;
  /** tokenCache.maxEntries. */
  readonly tokenCacheEntries?: number;
  /** watch.intervalMs, how often the key and policy files are polled. */
  readonly watchIntervalMs?: number;
  /** `log:` fields besides `level: info` (e.g. denyLinesPerSecond). */
  readonly log?: Readonly<Record<string, string | number>>;
  /** YAML appended as it is: top-level sections the options do not cover (nats, request, shutdown…). */
  readonly extra?: string;
  /** `policy.shadowFile: shadow.yaml` (writeSidecarDir writes it from `shadowPolicy`). */
  readonly shadowFile?: boolean;
  /** Gateway mode instead of `policy:`: these services, each on policies/<name>.yaml, chosen by context_extensions.service. */
  readonly gateway?: readonly string[];
}

const EXAMPLE_CLAIMS_TO_HEADERS = Object.freeze({ tenant: 'x-tenant-id', roles: 'x-auth-roles' });

/** The text of a config.yaml for a directory written by writeSidecarDir (paths relative to it). */
export function sidecarConfig(options: SidecarConfigOptions = {}): string {
  const example = (options.issuer ?? 'example') === 'example';
  const lines = ['service: orders'];
  if (options.grpc) lines.push(`grpc: ${flow(options.grpc)}`);
  if (options.http) lines.push(`http: ${flow({ address: '"127.0.0.1:0"', ...options.http })}`);
  lines.push(
    'issuers:',
    '  - name: idp',
    `    issuer: ${IDP_ISSUER}`,
    `    audiences: [${(options.audiences ?? [AUDIENCE]).join(', ')}]`,
    '    algorithms: [ES256]',
    '    keys: { file: keys/idp.jwks.json }',
  );
  if (example) {
    lines.push(
      '    from:',
      '      - { header: authorization, prefix: "Bearer " }',
      '      - { cookie: access_token }',
      `    claimsToHeaders: ${flow(options.claimsToHeaders ?? EXAMPLE_CLAIMS_TO_HEADERS)}`,
    );
  }
  if (options.moreIssuers) lines.push(options.moreIssuers.trimEnd());
  if (example) lines.push('serviceTokens:', '  trustDomain: cluster.local', '  header: x-service-token', '  keys: { file: keys/mesh.jwks.json }');
  if (options.gateway !== undefined)
    lines.push('gateway:', '  services:', ...options.gateway.map((name) => `    - { name: ${name}, policy: { file: policies/${name}.yaml } }`));
  else lines.push(options.shadowFile ? 'policy: { file: policy.yaml, shadowFile: shadow.yaml }' : 'policy: { file: policy.yaml }');
  if (options.tokenCacheEntries !== undefined) lines.push(`tokenCache: { maxEntries: ${options.tokenCacheEntries} }`);
  if (options.watchIntervalMs !== undefined) lines.push(`watch: { intervalMs: ${options.watchIntervalMs} }`);
  lines.push(`log: ${flow({ level: 'info', ...options.log })}`);
  return `${lines.join('\n')}\n${options.extra ?? ''}`;
}

export interface SidecarDirOptions extends SidecarConfigOptions {
  /** The directory to write into (created if missing); a fresh temp dir unless told. */
  readonly dir?: string;
  /** policy.yaml's text; a copy of deploy/examples/policy.yaml unless told. */
  readonly policy?: string;
  /** config.yaml's text, instead of sidecarConfig(options). */
  readonly config?: string;
  /** shadow.yaml's text, the shadow policy (and `policy.shadowFile` in the config). */
  readonly shadowPolicy?: string;
  /** Gateway mode: policies/<service>.yaml for each service, and the config's `gateway:` naming them. */
  readonly gatewayPolicies?: Readonly<Record<string, string>>;
}

/** Writes keys/, policy.yaml and config.yaml; returns the directory and the config's path. */
export function writeSidecarDir(options: SidecarDirOptions = {}): { dir: string; configPath: string } {
  const dir = options.dir ?? tempDir();
  mkdirSync(join(dir, 'keys'), { recursive: true });
  cpSync(`${EXAMPLES}/keys`, join(dir, 'keys'), { recursive: true });
  writeFileSync(join(dir, 'policy.yaml'), options.policy ?? readFileSync(`${EXAMPLES}/policy.yaml`));
  if (options.shadowPolicy !== undefined) writeFileSync(join(dir, 'shadow.yaml'), options.shadowPolicy);
  const gateway = options.gatewayPolicies && Object.keys(options.gatewayPolicies);
  if (options.gatewayPolicies !== undefined) {
    mkdirSync(join(dir, 'policies'), { recursive: true });
    for (const [name, text] of Object.entries(options.gatewayPolicies)) writeFileSync(join(dir, 'policies', `${name}.yaml`), text);
  }
  const config =
    options.config ?? sidecarConfig({ ...options, gateway: options.gateway ?? gateway, shadowFile: options.shadowFile ?? options.shadowPolicy !== undefined });
  return { dir, configPath: writeConfig(dir, config) };
}

/**
 * A policy for service orders whose one rule, read-orders, allows GET /api/orders to a
 * token of `issuers` (the example IdP unless told); `rules` (YAML list items indented by
 * four spaces) are appended to it. Everything else is denied.
 */
export function ordersPolicy(options: { readonly issuers?: readonly string[]; readonly rules?: string } = {}): string {
  return `apiVersion: authz-sidecar/v1
kind: Policy
metadata: { name: orders, service: orders }
spec:
  defaultAction: DENY
  rules:
    - name: read-orders
      action: ALLOW
      to: [{ methods: [GET], paths: ["/api/orders"] }]
      from: [{ issuers: [${(options.issuers ?? [IDP_ISSUER]).map((issuer) => JSON.stringify(issuer)).join(', ')}] }]
${options.rules ?? ''}`;
}

/** A YAML flow map of plain scalars: { a: 1, b: x }. */
function flow(fields: Readonly<Record<string, string | number>>): string {
  return `{ ${Object.entries(fields)
    .map(([key, value]) => `${key}: ${value}`)
    .join(', ')} }`;
}
