/**
 * Istio, for the tests of k8s/overlays/istio and of the sidecar behind istio-proxy:
 *
 * - the mesh config's extension providers, validated strictly. `@kubernetes-models/istio`
 *   models Istio's custom resources but not MeshConfig (it is no CRD: istiod reads it from
 *   the `istio` ConfigMap), and its IstioOperator model leaves `spec` open. So the wrapper is
 *   validated with that package and the mesh config with the schema below, which has the
 *   fields, names and types of Istio's `MeshConfig.ExtensionProvider` for an
 *   `envoyExtAuthzGrpc` provider (mesh/v1alpha1/config.proto, proto3 JSON names) and nothing
 *   else: an unknown or misspelt field is an error, as it is for istiod.
 * - AuthorizationPolicy `to.operation` matching (paths, methods and their `not` forms), to
 *   tell which requests a CUSTOM policy sends to its provider.
 * - CheckRequests shaped the way istio-proxy's ext_authz filter sends them.
 */
import { z } from 'zod';
import { schemaErrors, type K8sObject } from './k8s-validate.js';

// ---------------------------------------------------------------- mesh config

/** google.protobuf.Duration in proto3 JSON: seconds with up to nine fractional digits, then "s". */
const DURATION = /^\d+(\.\d{1,9})?s$/;

const requestBody = z.strictObject({
  maxRequestBytes: z.number().int().min(0).optional(),
  allowPartialMessage: z.boolean().optional(),
  packAsBytes: z.boolean().optional(),
});

const envoyExtAuthzGrpc = z.strictObject({
  service: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  timeout: z.string().regex(DURATION, 'a duration such as "0.25s"').optional(),
  failOpen: z.boolean().optional(),
  // Istio parses it as an integer and requires one of Envoy's HTTP status codes.
  statusOnError: z
    .string()
    .regex(/^[1-5][0-9][0-9]$/, 'an HTTP status code as a string, e.g. "503"')
    .optional(),
  includeRequestBodyInCheck: requestBody.optional(),
});

const extensionProvider = z.strictObject({
  name: z.string().min(1),
  envoyExtAuthzGrpc,
});

/** The part of MeshConfig that k8s/overlays/istio/mesh/ sets; any other field is refused. */
export const meshConfigSchema = z.strictObject({
  extensionProviders: z
    .array(extensionProvider)
    .min(1)
    .refine((list) => new Set(list.map((p) => p.name)).size === list.length, 'provider names must be unique'),
});

export type MeshConfig = z.infer<typeof meshConfigSchema>;
export type ExtAuthzGrpcProvider = z.infer<typeof envoyExtAuthzGrpc>;

/** `PATH: REASON` lines for a mesh config; empty when valid. */
export function meshConfigErrors(meshConfig: unknown, where = 'meshConfig'): string[] {
  const result = meshConfigSchema.safeParse(meshConfig);
  if (result.success) return [];
  return result.error.issues.map((issue) => {
    const path = [where, ...issue.path.map(String)].join('.');
    const keys = issue.code === 'unrecognized_keys' ? ` (${issue.keys.join(', ')})` : '';
    return `${path}: ${issue.message}${keys}`;
  });
}

/**
 * An IstioOperator file holding only a mesh config: the wrapper against
 * @kubernetes-models/istio, `spec` with no field but meshConfig, and the mesh config as above.
 */
export function istioOperatorErrors(document: K8sObject): string[] {
  const errors = schemaErrors({ ...document, metadata: document.metadata ?? { name: 'istio-operator' } });
  const spec = (document as { spec?: Record<string, unknown> }).spec;
  if (spec === undefined || spec === null || typeof spec !== 'object') return [...errors, 'IstioOperator: spec must be an object'];
  for (const key of Object.keys(spec))
    if (key !== 'meshConfig') errors.push(`IstioOperator: spec.${key}: unexpected field (this file only carries meshConfig)`);
  return [...errors, ...meshConfigErrors(spec.meshConfig, 'spec.meshConfig')];
}

/** Values for the istiod Helm chart holding only a mesh config. */
export function istiodValuesErrors(values: Record<string, unknown>): string[] {
  const errors = Object.keys(values)
    .filter((key) => key !== 'meshConfig')
    .map((key) => `${key}: unexpected field (this file only carries meshConfig)`);
  return [...errors, ...meshConfigErrors(values.meshConfig)];
}

/** The provider's `service` split as Istio reads it: "[<namespace>/]<hostname>". */
export function providerService(service: string): { namespace?: string; host: string } {
  const parts = service.split('/');
  return parts.length === 2 ? { namespace: parts[0], host: parts[1] } : { host: service };
}

// ---------------------------------------------------------------- AuthorizationPolicy rules

export interface Operation {
  paths?: string[];
  notPaths?: string[];
  methods?: string[];
  notMethods?: string[];
  hosts?: string[];
  notHosts?: string[];
  ports?: string[];
  notPorts?: string[];
}

export interface PolicyRule {
  from?: unknown[];
  to?: Array<{ operation?: Operation }>;
  when?: unknown[];
}

/** Istio's string match: exact, "prefix*", "*suffix", or "*" (any non-empty value). */
function stringMatch(pattern: string, value: string): boolean {
  if (pattern === '*') return value !== '';
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  return value === pattern;
}

const anyMatch = (patterns: string[] | undefined, value: string) => patterns!.some((p) => stringMatch(p, value));

/**
 * Whether a request (method, path without the query) matches one of a policy's rules, i.e.
 * whether a CUSTOM policy hands it to its provider. Only `to` with paths and methods is
 * modelled; a rule with anything else (`from`, `when`, hosts, ports) throws, so a test cannot
 * draw a conclusion the model does not support.
 */
export function ruleMatches(rules: readonly PolicyRule[], method: string, path: string): boolean {
  return rules.some((rule) => {
    if (rule.from !== undefined || rule.when !== undefined) throw new Error('ruleMatches models `to` only');
    if (rule.to === undefined) return true;
    return rule.to.some(({ operation = {} }) => {
      const { paths, notPaths, methods, notMethods, ...rest } = operation;
      if (Object.keys(rest).length > 0) throw new Error(`ruleMatches does not model ${Object.keys(rest).join(', ')}`);
      if (paths && !anyMatch(paths, path)) return false;
      if (notPaths && anyMatch(notPaths, path)) return false;
      if (methods && !anyMatch(methods, method)) return false;
      if (notMethods && anyMatch(notMethods, method)) return false;
      return true;
    });
  });
}

// ---------------------------------------------------------------- istio-proxy's CheckRequests

export const TRUST_DOMAIN = 'cluster.local';

/** The SPIFFE id Istio gives a workload: spiffe://<trust domain>/ns/<namespace>/sa/<service account>. */
export function spiffeId(namespace: string, serviceAccount: string, trustDomain = TRUST_DOMAIN): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/**
 * One element of an x-forwarded-client-cert header as Envoy writes it for a workload
 * certificate (Istio's carry a URI SAN and an empty subject): By=<this proxy's URI SAN>;
 * Hash=<SHA-256 of the client certificate>;Subject="";URI=<the client's URI SAN>.
 */
export function xfccElement(by: string, uri: string, hash = 'a'.repeat(64)): string {
  return `By=${by};Hash=${hash};Subject="";URI=${uri}`;
}

export interface IstioRequestShape {
  method?: string;
  path?: string;
  /** :authority; inside the mesh it carries the port (orders.orders.svc.cluster.local:8080). */
  authority?: string;
  /** The caller's SPIFFE id from the mTLS handshake; "" for a plain-text caller (PERMISSIVE). */
  sourcePrincipal?: string;
  /** This workload's own SPIFFE id (destination.principal). */
  destinationPrincipal?: string;
  sourceAddress?: string;
  destinationAddress?: string;
  /** x-request-id (istio-proxy keeps the caller's, or makes one). */
  requestId?: string;
  /** More request headers, e.g. authorization or a forged x-forwarded-client-cert. */
  headers?: Record<string, string>;
  /** Whether to add the x-forwarded-client-cert istio-proxy writes for an mTLS caller (default: when there is a source principal). */
  xfcc?: boolean;
}

/**
 * Istio's peer metadata header: base64 of a protobuf Struct describing the calling workload
 * (labels, name, namespace, mesh id, …). The sidecar never reads it; what matters here is
 * that a header of that size and shape passes the request limits.
 */
export function peerMetadata(namespace: string, workload: string): string {
  const fields = [
    ['NAME', `${workload}-7c9d8f6b5-x2x4q`],
    ['NAMESPACE', namespace],
    ['WORKLOAD_NAME', workload],
    ['CLUSTER_ID', 'Kubernetes'],
    ['MESH_ID', TRUST_DOMAIN],
    ['APP_CONTAINERS', workload],
    ['INSTANCE_IPS', '10.244.1.17'],
    ['ISTIO_VERSION', '1.24.2'],
    ['LABELS', `app=${workload},service.istio.io/canonical-name=${workload},service.istio.io/canonical-revision=latest`],
    ['OWNER', `kubernetes://apis/apps/v1/namespaces/${namespace}/deployments/${workload}`],
    ['PLATFORM_METADATA', 'gcp_project=example'],
    ['SERVICE_ACCOUNT', workload],
  ];
  // A stand-in for the Struct's bytes: each field as key, length, value.
  const bytes = Buffer.concat(
    fields.map(([key, value]) => Buffer.from(`\n${String.fromCharCode(key.length)}${key}\u0012${String.fromCharCode(value.length)}${value}`)),
  );
  return bytes.toString('base64');
}

/**
 * A CheckRequest as istio-proxy's ext_authz filter builds it on a workload's inbound path:
 * the peer addresses and SPIFFE ids from the mTLS connection, the request headers as one
 * `headers` map (Istio does not set encode_raw_headers, so no header_map), the headers
 * istio-proxy itself adds (x-forwarded-proto, x-request-id, x-envoy-attempt-count,
 * x-forwarded-client-cert, Istio's peer metadata), and no context_extensions (Istio sets no
 * per-route check settings). Field names are Envoy's (attribute_context.proto).
 */
export function istioCheckRequest(shape: IstioRequestShape = {}): unknown {
  const method = shape.method ?? 'GET';
  const path = shape.path ?? '/';
  const authority = shape.authority ?? 'orders.orders.svc.cluster.local:8080';
  const source = shape.sourcePrincipal ?? spiffeId('shop', 'checkout');
  const destination = shape.destinationPrincipal ?? spiffeId('orders', 'orders');
  const requestId = shape.requestId ?? '8f2c6b3e-5a1d-4e7f-9b0c-2d4e6f8a0b1c';
  const headers: Record<string, string> = {
    ':method': method,
    ':path': path,
    ':authority': authority,
    ':scheme': 'http',
    'user-agent': 'checkout/2.3 grpc-java-netty/1.68.1',
    accept: 'application/json',
    'x-forwarded-proto': 'http',
    'x-request-id': requestId,
    'x-envoy-attempt-count': '1',
    'x-envoy-peer-metadata-id': 'sidecar~10.244.1.17~checkout-7c9d8f6b5-x2x4q.shop~shop.svc.cluster.local',
    'x-envoy-peer-metadata': peerMetadata('shop', 'checkout'),
    'x-b3-traceid': '80f198ee56343ba864fe8b2a57d3eff7',
    'x-b3-spanid': 'e457b5a2e4d86bd1',
    'x-b3-sampled': '0',
  };
  if (shape.xfcc ?? source !== '') headers['x-forwarded-client-cert'] = xfccElement(destination, source);
  Object.assign(headers, shape.headers);
  const [sourceIp, sourcePort] = (shape.sourceAddress ?? '10.244.1.17:46624').split(':');
  const [destinationIp, destinationPort] = (shape.destinationAddress ?? '10.244.2.9:8080').split(':');
  return {
    attributes: {
      source: { address: { socket_address: { address: sourceIp, port_value: Number(sourcePort) } }, principal: source },
      destination: { address: { socket_address: { address: destinationIp, port_value: Number(destinationPort) } }, principal: destination },
      request: {
        time: { seconds: String(Math.floor(Date.now() / 1000)), nanos: 0 },
        http: {
          id: '11790118442613213519',
          method,
          headers,
          path,
          host: authority,
          scheme: 'http',
          protocol: 'HTTP/1.1',
        },
      },
    },
  };
}
