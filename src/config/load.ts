import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { DocumentError, HMAC_ALGORITHMS, parseYamlOrJson, validateDocument } from '../shared/index.js';
import { configSchema, type Config, type KeySourceConfig } from './schema.js';

const HMAC = new Set<string>(HMAC_ALGORITHMS);
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Reads, validates and resolves a config file. Every failure is a one-line DocumentError. */
export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new DocumentError(file, '', `cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  return parseConfig(text, file);
}

export function parseConfig(text: string, file: string): Config {
  const config = validateDocument(configSchema, parseYamlOrJson(text, file), file);
  checkConsistency(config, file);
  return resolvePaths(config, dirname(resolve(file)));
}

/** Rules that span fields, which the schema alone cannot express. */
function checkConsistency(config: Config, file: string): void {
  const names = new Set<string>();
  config.issuers.forEach((issuer, i) => {
    if (names.has(issuer.name)) throw new DocumentError(file, `issuers[${i}].name`, `duplicate issuer name "${issuer.name}"`);
    names.add(issuer.name);
    checkAlgorithms(file, `issuers[${i}]`, issuer.algorithms, issuer.keys);
    checkKeySource(config, file, `issuers[${i}].keys`, issuer.keys);
  });
  if (config.serviceTokens) {
    const st = config.serviceTokens;
    if (st.keys.secretFile !== undefined) throw new DocumentError(file, 'serviceTokens.keys.secretFile', 'service tokens must use asymmetric keys');
    checkAlgorithms(file, 'serviceTokens', st.algorithms, st.keys);
    checkKeySource(config, file, 'serviceTokens.keys', st.keys);
  }
  if (config.policy.nats && !config.nats) throw new DocumentError(file, 'policy.nats', 'requires a "nats" section');
  if (config.grpc.address === config.admin.address) throw new DocumentError(file, 'admin.address', 'must differ from grpc.address');
}

function checkAlgorithms(file: string, at: string, algorithms: readonly string[], keys: KeySourceConfig): void {
  const hmac = algorithms.filter((a) => HMAC.has(a));
  if (keys.secretFile !== undefined && hmac.length !== algorithms.length)
    throw new DocumentError(file, `${at}.algorithms`, 'a secretFile issuer may only allow HS256, HS384 or HS512');
  if (keys.secretFile === undefined && hmac.length > 0)
    throw new DocumentError(file, `${at}.algorithms`, `${hmac[0]} requires keys.secretFile (a shared secret of at least 32 bytes)`);
}

function checkKeySource(config: Config, file: string, at: string, keys: KeySourceConfig): void {
  if (keys.nats && !config.nats) throw new DocumentError(file, `${at}.nats`, 'requires a "nats" section');
  if (keys.url !== undefined) {
    const url = new URL(keys.url);
    if (url.protocol === 'http:' && !LOOPBACK.has(url.hostname))
      throw new DocumentError(file, `${at}.url`, 'must be https (plain http is allowed on loopback only)');
  }
}

function resolvePaths(config: Config, base: string): Config {
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const keys = (k: KeySourceConfig): KeySourceConfig => ({
    ...k,
    ...(k.file !== undefined ? { file: at(k.file) } : {}),
    ...(k.secretFile !== undefined ? { secretFile: at(k.secretFile) } : {}),
  });
  return {
    ...config,
    issuers: config.issuers.map((i) => ({ ...i, keys: keys(i.keys) })),
    ...(config.serviceTokens ? { serviceTokens: { ...config.serviceTokens, keys: keys(config.serviceTokens.keys) } } : {}),
    policy: config.policy.file !== undefined ? { ...config.policy, file: at(config.policy.file) } : config.policy,
    ...(config.nats ? { nats: { ...config.nats, signers: config.nats.signers.map(at), cacheDir: at(config.nats.cacheDir) } } : {}),
  };
}
