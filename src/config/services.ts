import type { FieldPath } from '../shared/index.js';
import type { Config, PolicySourceConfig } from './schema.js';

/** A service the sidecar decides for, with the config field its policy source is written at. */
export interface ProtectedServiceConfig {
  readonly name: string;
  /** Gateway with `selectBy: host`: the hosts it answers; otherwise empty. */
  readonly hosts: readonly string[];
  readonly policy: PolicySourceConfig;
  /** Where `policy` is written: `policy`, or `gateway.services[i].policy`. */
  readonly at: FieldPath;
}

/**
 * The services of a config: `service` with `policy`, or each of `gateway.services`. The rest of
 * the sidecar reads this list and never asks which mode it is in.
 */
export function protectedServices(config: Config): ProtectedServiceConfig[] {
  if (config.gateway !== undefined)
    return config.gateway.services.map((s, i) => ({ name: s.name, hosts: s.hosts, policy: s.policy, at: ['gateway', 'services', i, 'policy'] }));
  if (config.policy === undefined) throw new TypeError('config has neither policy nor gateway');
  return [{ name: config.service, hosts: [], policy: config.policy, at: ['policy'] }];
}

/** How a Check finds its service: there is one, or a gateway picks by context extension or host. */
export function serviceSelection(config: Config): 'single' | 'contextExtension' | 'host' {
  return config.gateway?.selectBy ?? 'single';
}

/** The API key set's name (`apiKeys.name`, default `service`), or undefined without `apiKeys`. */
export function apiKeySetName(config: Config): string | undefined {
  return config.apiKeys && (config.apiKeys.name ?? config.service);
}
