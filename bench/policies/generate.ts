/**
 * Policies of any size shaped like real ones: rules spread over 40 services' paths and all
 * five methods, with scopes, service principals, host conditions and DENY carve-outs, plus
 * the rules every request of the benchmark meets (a suffix DENY, a prefix DENY, an admin rule
 * on the same paths that the caller lacks the permission for). The rule the benchmark's
 * request matches, `read-orders`, comes last: the worst place in document order.
 */
import { stringify } from 'yaml';

export interface PolicyOptions {
  /** Total rule count (≥ 6). */
  readonly rules: number;
  /** A CEL `when` on the matching rule. */
  readonly when?: string;
  /** Appended before `read-orders`, e.g. to make each pushed revision distinct. */
  readonly extraRules?: readonly Record<string, unknown>[];
  /** Write JSON rather than YAML, as a generator of a large policy would (the sidecar reads both). */
  readonly json?: boolean;
  /** The service (and policy name); orders unless told. */
  readonly service?: string;
}

/** The condition the CEL scenario adds: the token's tenant must be the one the request names. */
export const TENANT_CONDITION = 'request.auth.claims.tenant == request.headers["x-tenant-id"]';

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] as const;
const ISSUER = 'https://idp.example.test';
const SERVICES = 40;

export function generatePolicy(options: PolicyOptions): Record<string, unknown> {
  const fixedHead = [
    { name: 'deny-legacy', action: 'DENY', to: [{ paths: ['/legacy/*'] }] },
    { name: 'deny-php-probes', action: 'DENY', to: [{ paths: ['*.php'] }] },
    { name: 'public-health', action: 'ALLOW', to: [{ methods: ['GET'], paths: ['/healthz'] }] },
    {
      name: 'create-orders',
      action: 'ALLOW',
      to: [{ methods: ['POST'], paths: ['/api/orders'] }],
      from: [{ issuers: [ISSUER] }],
      require: { scopes: ['orders:write'], permission: 'orders:create' },
    },
  ];
  const fixedTail = [
    ...(options.extraRules ?? []),
    { name: 'admin-orders', action: 'ALLOW', to: [{ paths: ['/api/orders', '/api/orders/*'] }], require: { permission: 'orders:admin' } },
    {
      name: 'read-orders',
      action: 'ALLOW',
      to: [{ methods: ['GET'], paths: ['/api/orders', '/api/orders/*'] }],
      from: [{ issuers: [ISSUER] }],
      require: { scopes: ['orders:read'], permission: 'orders:read' },
      ...(options.when === undefined ? {} : { when: options.when }),
    },
  ];
  const fillers = Math.max(0, options.rules - fixedHead.length - fixedTail.length);
  return {
    apiVersion: 'authz-sidecar/v1',
    kind: 'Policy',
    metadata: { name: options.service ?? 'orders', service: options.service ?? 'orders' },
    spec: {
      defaultAction: 'DENY',
      roles: { admin: ['orders:*'], customer: ['orders:read', 'orders:create'], auditor: ['orders:read', 'billing:read'] },
      rolesFrom: 'roles',
      rules: [...fixedHead, ...Array.from({ length: fillers }, (_, i) => fillerRule(i)), ...fixedTail],
    },
  };
}

export function policyText(options: PolicyOptions): string {
  const policy = generatePolicy(options);
  return options.json === true ? JSON.stringify(policy, null, 1) : stringify(policy);
}

function fillerRule(i: number): Record<string, unknown> {
  const service = `svc${i % SERVICES}`;
  const method = METHODS[i % METHODS.length];
  const base = `/${service}/r${i}`;
  const to = { methods: [method], paths: [base, `${base}/*`] };
  switch (i % 10) {
    case 7:
      return { name: `r${i}-mesh`, action: 'ALLOW', to: [to], from: [{ principals: [`spiffe://cluster.local/ns/${service}/sa/worker`] }] };
    case 8:
      return { name: `r${i}-host`, action: 'ALLOW', to: [{ ...to, hosts: [`${service}.example.test`] }], from: [{ issuers: [ISSUER] }] };
    case 9:
      return { name: `r${i}-deny`, action: 'DENY', to: [{ paths: [`${base}/admin/*`] }] };
    default:
      return { name: `r${i}`, action: 'ALLOW', to: [to], from: [{ issuers: [ISSUER] }], require: { scopes: [`${service}:${method.toLowerCase()}`] } };
  }
}
