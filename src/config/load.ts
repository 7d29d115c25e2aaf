import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { DocumentError, HMAC_ALGORITHMS, fieldPath, locateField, parseYamlOrJson, readFailure, validateDocument, type FieldPath } from '../shared/index.js';
import { configSchema, type Config, type IntrospectionConfig, type IssuerConfig, type KeySourceConfig, type PolicySourceConfig } from './schema.js';
import { protectedServices } from './services.js';

const HMAC = new Set<string>(HMAC_ALGORITHMS);
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** A valid config with what is needed to report a problem found later in one of its fields. */
export interface ConfigDocument {
  /** The config file as given. */
  readonly file: string;
  /** Validated, defaults applied, relative paths resolved against the file's folder. */
  readonly config: Config;
  /** A field's value as written in the file (a path before resolving); undefined when not written. */
  written(path: FieldPath): unknown;
  /**
   * A one-line error naming the file and `path`, with the line and column where the field is
   * written (none for a field the file leaves to its default).
   */
  error(path: FieldPath, reason: string, cause?: unknown): DocumentError;
}

/** Reads, validates and resolves a config file. Every failure is a one-line DocumentError. */
export function loadConfig(file: string): Config {
  return readConfig(file).config;
}

/** loadConfig, keeping the document so that later problems (a key file, an address) can name their field and line. */
export function readConfig(file: string): ConfigDocument {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new DocumentError(file, '', `cannot read: ${readFailure(error)}`, { cause: error });
  }
  return parseConfigDocument(text, file);
}

export function parseConfig(text: string, file: string): Config {
  return parseConfigDocument(text, file).config;
}

function parseConfigDocument(text: string, file: string): ConfigDocument {
  const raw = parseYamlOrJson(text, file);
  const document: Omit<ConfigDocument, 'config'> = {
    file,
    written: (path) =>
      path.reduce<unknown>((value, part) => (typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[part] : undefined), raw),
    error: (path, reason, cause) => new DocumentError(file, fieldPath(path), reason, { ...locateField(raw, path, { exact: true }), cause }),
  };
  const config = validateDocument(configSchema, raw, file);
  checkConsistency(config, document.error);
  return { ...document, config: resolvePaths(config, dirname(resolve(file))) };
}

type Fail = (path: FieldPath, reason: string) => DocumentError;

/** Rules that span fields, which the schema alone cannot express. */
function checkConsistency(config: Config, fail: Fail): void {
  const names = new Set<string>();
  config.issuers.forEach((issuer, i) => {
    if (names.has(issuer.name)) throw fail(['issuers', i, 'name'], `duplicate issuer name "${issuer.name}"`);
    names.add(issuer.name);
    checkIssuerKind(fail, i, issuer);
    if (issuer.keys === undefined) return;
    checkAlgorithms(fail, ['issuers', i], issuer.algorithms, issuer.keys);
    checkKeySource(config, fail, ['issuers', i, 'keys'], issuer.keys);
    if (issuer.keys.discovery !== undefined && !URL.canParse(issuer.issuer))
      throw fail(['issuers', i, 'issuer'], 'must be the issuer URL with keys.discovery (the discovery document must name exactly this issuer)');
  });
  checkOpaqueRoutes(config, fail);
  if (config.serviceTokens) {
    const st = config.serviceTokens;
    if (st.keys.secretFile !== undefined) throw fail(['serviceTokens', 'keys', 'secretFile'], 'service tokens must use asymmetric keys');
    checkAlgorithms(fail, ['serviceTokens'], st.algorithms, st.keys);
    checkKeySource(config, fail, ['serviceTokens', 'keys'], st.keys);
    if (st.keys.discovery !== undefined && (st.issuer === undefined || !URL.canParse(st.issuer)))
      throw fail(['serviceTokens', 'issuer'], 'must be the issuer URL with keys.discovery (the discovery document must name exactly this issuer)');
  }
  checkApiKeys(config, fail);
  checkServices(config, fail);
  if (config.grpc.address === config.admin.address) throw fail(['admin', 'address'], 'must differ from grpc.address');
}

/** API keys need a header no token source reads, and an issuer no token issuer has, so policies can tell them apart. */
function checkApiKeys(config: Config, fail: Fail): void {
  const apiKeys = config.apiKeys;
  if (apiKeys === undefined) return;
  if (apiKeys.keys.nats && !config.nats) throw fail(['apiKeys', 'keys', 'nats'], 'requires a "nats" section');
  const headers = [...config.issuers.flatMap((i) => i.from.flatMap((f) => ('header' in f ? [f.header] : []))), config.serviceTokens?.header];
  if (headers.includes(apiKeys.header)) throw fail(['apiKeys', 'header'], `"${apiKeys.header}" is already a token source; API keys need a header of their own`);
  const issuerName = `apikeys.${apiKeys.name ?? config.service}`;
  const clash = config.issuers.findIndex((i) => i.name === issuerName);
  if (clash >= 0) throw fail(['issuers', clash, 'name'], `"${issuerName}" is the name API key callers carry; choose another`);
  if (config.issuers.some((i) => i.issuer === apiKeys.issuer))
    throw fail(['apiKeys', 'issuer'], `"${apiKeys.issuer}" is also a token issuer's "issuer"; policies could not tell them apart`);
}

/** One policy (`policy`) or a gateway's many (`gateway`), each service once, each host with one service. */
function checkServices(config: Config, fail: Fail): void {
  if ((config.policy === undefined) === (config.gateway === undefined))
    throw fail(
      config.policy === undefined ? ['policy'] : ['gateway'],
      'name either policy (one service) or gateway (the policies of many services), not both or neither',
    );
  const gateway = config.gateway;
  if (gateway !== undefined) {
    const names = new Set<string>();
    const owners = new Map<string, string>();
    gateway.services.forEach((service, i) => {
      if (names.has(service.name)) throw fail(['gateway', 'services', i, 'name'], `duplicate service name "${service.name}"`);
      names.add(service.name);
      if (gateway.selectBy === 'host' && service.hosts.length === 0)
        throw fail(['gateway', 'services', i, 'hosts'], 'must name at least one host with gateway.selectBy: host');
      if (gateway.selectBy !== 'host' && service.hosts.length > 0)
        throw fail(['gateway', 'services', i, 'hosts'], 'only used with gateway.selectBy: host (services are chosen by context_extensions.service)');
      service.hosts.forEach((host, j) => {
        const owner = owners.get(host);
        if (owner !== undefined) throw fail(['gateway', 'services', i, 'hosts', j], `"${host}" is already a host of service "${owner}"`);
        owners.set(host, service.name);
      });
    });
  }
  for (const service of protectedServices(config)) if (service.policy.nats && !config.nats) throw fail([...service.at, 'nats'], 'requires a "nats" section');
}

function checkAlgorithms(fail: Fail, at: FieldPath, algorithms: readonly string[], keys: KeySourceConfig): void {
  const hmac = algorithms.filter((a) => HMAC.has(a));
  if (keys.secretFile !== undefined && hmac.length !== algorithms.length)
    throw fail([...at, 'algorithms'], 'a secretFile issuer may only allow HS256, HS384 or HS512');
  if (keys.secretFile === undefined && hmac.length > 0)
    throw fail([...at, 'algorithms'], `${hmac[0]} requires keys.secretFile (a shared secret of at least 32 bytes)`);
}

function checkKeySource(config: Config, fail: Fail, at: FieldPath, keys: KeySourceConfig): void {
  if (keys.nats && !config.nats) throw fail([...at, 'nats'], 'requires a "nats" section');
  for (const field of ['url', 'discovery'] as const) {
    const value = keys[field];
    if (value !== undefined && !secureOrLoopback(value)) throw fail([...at, field], 'must be https (plain http is allowed on loopback only)');
  }
}

function secureOrLoopback(text: string): boolean {
  const url = new URL(text);
  return url.protocol !== 'http:' || LOOPBACK.has(url.hostname);
}

/** A JWT issuer has `keys`; an introspection issuer has `introspection`, and `keys` only to verify signed answers. */
function checkIssuerKind(fail: Fail, i: number, issuer: IssuerConfig): void {
  const { keys, introspection } = issuer;
  if (introspection === undefined) {
    if (keys === undefined) throw fail(['issuers', i], 'needs keys (or introspection, for an issuer of opaque tokens)');
    return;
  }
  if (!secureOrLoopback(introspection.url)) throw fail(['issuers', i, 'introspection', 'url'], 'must be https (plain http is allowed on loopback only)');
  if (introspection.jwtResponse && keys === undefined)
    throw fail(['issuers', i, 'introspection', 'jwtResponse'], 'needs keys: the key set the authorization server signs its answers with');
  if (!introspection.jwtResponse && keys !== undefined)
    throw fail(['issuers', i, 'keys'], 'only used with introspection.jwtResponse: an introspection issuer does not verify tokens locally');
}

/** Opaque tokens carry no `iss` to route by: a token source may feed one introspection issuer at most. */
function checkOpaqueRoutes(config: Config, fail: Fail): void {
  const owners = new Map<string, string>();
  config.issuers.forEach((issuer, i) => {
    if (issuer.introspection === undefined) return;
    for (const source of issuer.from) {
      const key = JSON.stringify(source);
      const owner = owners.get(key);
      if (owner !== undefined)
        throw fail(['issuers', i, 'from'], `shares a token source with introspection issuer "${owner}": opaque tokens could not be routed between them`);
      owners.set(key, issuer.name);
    }
  });
}

function resolvePaths(config: Config, base: string): Config {
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const policyFiles = (p: PolicySourceConfig): PolicySourceConfig => ({
    ...p,
    ...(p.file !== undefined && { file: at(p.file) }),
    ...(p.shadowFile !== undefined && { shadowFile: at(p.shadowFile) }),
  });
  const introspectionFiles = (c: IntrospectionConfig): IntrospectionConfig => ({
    ...c,
    ...(c.clientSecretFile !== undefined && { clientSecretFile: at(c.clientSecretFile) }),
    ...(c.privateKeyJwt !== undefined && { privateKeyJwt: { keyFile: at(c.privateKeyJwt.keyFile) } }),
  });
  const keys = (k: KeySourceConfig): KeySourceConfig => ({
    ...k,
    ...(k.file !== undefined ? { file: at(k.file) } : {}),
    ...(k.secretFile !== undefined ? { secretFile: at(k.secretFile) } : {}),
  });
  return {
    ...config,
    issuers: config.issuers.map((i) => ({
      ...i,
      ...(i.keys && { keys: keys(i.keys) }),
      ...(i.introspection && { introspection: introspectionFiles(i.introspection) }),
    })),
    ...(config.serviceTokens ? { serviceTokens: { ...config.serviceTokens, keys: keys(config.serviceTokens.keys) } } : {}),
    ...(config.apiKeys?.keys.file !== undefined && { apiKeys: { ...config.apiKeys, keys: { file: at(config.apiKeys.keys.file) } } }),
    ...(config.policy && { policy: policyFiles(config.policy) }),
    ...(config.gateway && { gateway: { ...config.gateway, services: config.gateway.services.map((s) => ({ ...s, policy: policyFiles(s.policy) })) } }),
    ...(config.nats ? { nats: { ...config.nats, signers: config.nats.signers.map(at), cacheDir: at(config.nats.cacheDir) } } : {}),
  };
}
