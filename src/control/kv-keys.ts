/**
 * The KV key ↔ (kind, target) table of types.ts, in both directions. A key or target that
 * does not fit the table exactly is refused: the sidecar ignores such KV entries, and the
 * last-good cache names its files after keys that passed here.
 */
import { quoteShort } from './errors.js';
import { REVOCATIONS_KEY, type DocumentKind } from './types.js';

export interface KvTarget {
  readonly kind: DocumentKind;
  readonly target: string;
}

export const REVOCATIONS_TARGET = '*';

/** Same as the config's `service` and `issuers[].name`. */
const SHORT_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** Same as the config's `serviceTokens.trustDomain`; SPIFFE caps a trust domain at 255. */
const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;

/** A NATS KV key may not start or end with "." nor hold an empty token, so neither may a name in one. */
function fitsKvKey(name: string): boolean {
  return !name.startsWith('.') && !name.endsWith('.') && !name.includes('..');
}

/** A service or issuer name usable in a KV key. */
export function isShortName(name: string): boolean {
  return typeof name === 'string' && SHORT_NAME.test(name) && fitsKvKey(name);
}

export function isTrustDomain(name: string): boolean {
  return typeof name === 'string' && TRUST_DOMAIN.test(name) && fitsKvKey(name);
}

interface Row {
  readonly kind: DocumentKind;
  readonly keyPrefix: string;
  readonly targetPrefix: string;
  readonly valid: (name: string) => boolean;
}

const ROWS: readonly Row[] = [
  { kind: 'policy', keyPrefix: 'policy.', targetPrefix: '', valid: isShortName },
  { kind: 'shadow', keyPrefix: 'shadow.', targetPrefix: '', valid: isShortName },
  { kind: 'keys', keyPrefix: 'keys.issuer.', targetPrefix: 'issuer/', valid: isShortName },
  { kind: 'keys', keyPrefix: 'keys.trust-domain.', targetPrefix: 'trust-domain/', valid: isTrustDomain },
  { kind: 'apikeys', keyPrefix: 'apikeys.', targetPrefix: '', valid: isShortName },
];

/** `policy.<service>`, `shadow.<service>`, `keys.issuer.<name>`, `keys.trust-domain.<domain>`, `apikeys.<name>` or `revocations`; a TypeError for anything else. */
export function kvKeyFor(kind: DocumentKind, target: string): string {
  if (typeof target === 'string') {
    if (kind === 'revocations' && target === REVOCATIONS_TARGET) return REVOCATIONS_KEY;
    for (const row of ROWS) {
      if (row.kind !== kind || !target.startsWith(row.targetPrefix)) continue;
      const name = target.slice(row.targetPrefix.length);
      if (row.valid(name)) return row.keyPrefix + name;
    }
  }
  throw new TypeError(`no KV key for kind ${quoteShort(kind)} and target ${quoteShort(target)}`);
}

/** The kind and target a KV key holds, or null when the key is not one of the table's. */
export function parseKvKey(key: string): KvTarget | null {
  if (typeof key !== 'string') return null;
  if (key === REVOCATIONS_KEY) return { kind: 'revocations', target: REVOCATIONS_TARGET };
  for (const row of ROWS) {
    if (!key.startsWith(row.keyPrefix)) continue;
    const name = key.slice(row.keyPrefix.length);
    if (row.valid(name)) return { kind: row.kind, target: row.targetPrefix + name };
  }
  return null;
}

export function policyTarget(service: string): string {
  return checked(service, isShortName, 'service name');
}

/** The shadow policy's target: the service, as for its enforced policy (the kind tells them apart). */
export const shadowTarget = policyTarget;

export function issuerKeysTarget(name: string): string {
  return `issuer/${checked(name, isShortName, 'issuer name')}`;
}

export function trustDomainKeysTarget(trustDomain: string): string {
  return `trust-domain/${checked(trustDomain, isTrustDomain, 'trust domain')}`;
}

/** An API key set's target: its name (`apiKeys.name`). */
export function apiKeysTarget(name: string): string {
  return checked(name, isShortName, 'API key set name');
}

function checked(name: string, valid: (name: string) => boolean, what: string): string {
  if (!valid(name)) throw new TypeError(`${quoteShort(name)} is not a valid ${what} for a KV key`);
  return name;
}
