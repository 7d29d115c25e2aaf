/**
 * k8s/overlays/istio and its mesh-wide half, k8s/overlays/istio/mesh: rendered with
 * `kubectl kustomize`, every Kubernetes object validated against the Kubernetes schema and
 * every Istio object against Istio's CRD schemas (@kubernetes-models/istio), unknown fields
 * included; the mesh config's extension provider against Istio's MeshConfig fields
 * (testkit/istio.ts). Then the conventions that make the pieces fit: no Envoy of our own, the
 * AuthorizationPolicy naming the provider the mesh config defines and selecting the orders
 * pods, the provider reaching the sidecar of the same pod (ServiceEntry on 127.0.0.1 at the
 * sidecar's gRPC port, plain text), fail closed, and a sidecar config that still passes the
 * sidecar's own schema with every file it names mounted.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import { compilePolicyText } from '../../src/policy/index.js';
import { authzctl } from '../../testkit/authzctl.js';
import {
  istioOperatorErrors,
  istiodValuesErrors,
  meshConfigErrors,
  providerService,
  ruleMatches,
  type MeshConfig,
  type PolicyRule,
} from '../../testkit/istio.js';
import { FieldChecker, validateObjects, type K8sObject } from '../../testkit/k8s-validate.js';
import {
  container,
  filesNamedBy,
  find,
  findKubectl,
  hostPort,
  kustomize,
  matches,
  portNumber,
  quantity,
  sidecarView,
  type Workload,
} from '../../testkit/k8s-manifests.js';
import { ROOT } from '../../testkit/paths.js';

const KUBECTL = findKubectl();
const SKIP = KUBECTL ? false : 'kubectl is not on PATH: k8s/ is rendered with `kubectl kustomize` (offline). Install kubectl to run these tests.';

const OVERLAY = `${ROOT}k8s/overlays/istio`;
const MESH = `${OVERLAY}/mesh`;

interface AuthorizationPolicy extends K8sObject {
  spec: { selector?: { matchLabels: Record<string, string> }; action?: string; provider?: { name: string }; rules?: PolicyRule[] };
}
interface ServiceEntry extends K8sObject {
  spec: {
    hosts: string[];
    exportTo?: string[];
    location?: string;
    resolution?: string;
    endpoints?: Array<{ address: string }>;
    ports: Array<{ name: string; number: number; protocol?: string }>;
  };
}
interface DestinationRule extends K8sObject {
  spec: { host: string; exportTo?: string[]; trafficPolicy?: { tls?: { mode?: string } } };
}

let objects: K8sObject[] = [];
let mesh: K8sObject[] = [];
let operator: K8sObject;
let values: Record<string, unknown>;
let fields: FieldChecker;

const workload = () => {
  const found = find(objects, 'Deployment', 'orders') as Workload | undefined;
  assert.ok(found, 'a Deployment "orders"');
  return found;
};
const ofKind = <T extends K8sObject>(list: readonly K8sObject[], kind: string) => list.filter((o) => o.kind === kind) as T[];
const operatorMesh = () => (operator as unknown as { spec: { meshConfig: MeshConfig } }).spec.meshConfig;

/** Deliberately broken copies of the rendered Istio objects and mesh files, with the error each must produce. */
function brokenIstioObjects(): Array<{ what: string; errors: () => string[]; expect: RegExp }> {
  const policy = () => structuredClone(ofKind<AuthorizationPolicy>(objects, 'AuthorizationPolicy')[0]);
  const entry = () => structuredClone(ofKind<ServiceEntry>(mesh, 'ServiceEntry')[0]);
  const validate = (object: K8sObject) => () => validateObjects([object], fields);
  return [
    {
      what: 'AuthorizationPolicy: an action Istio does not know',
      errors: validate(Object.assign(policy(), { spec: { ...policy().spec, action: 'CUSTOMISED' } })),
      expect: /spec\/action must be equal to one of the allowed values/,
    },
    {
      what: 'AuthorizationPolicy: a misspelt operation field',
      errors: () => {
        const p = policy();
        (p.spec.rules![0].to![0].operation as Record<string, unknown>).notPath = ['/x'];
        return validateObjects([p], fields);
      },
      expect: /spec\.rules\[0\]\.to\[0\]\.operation\.notPath: unknown field/,
    },
    {
      what: 'AuthorizationPolicy: paths as a string',
      errors: () => {
        const p = policy();
        (p.spec.rules![1].to![0].operation as Record<string, unknown>).paths = '/healthz';
        return validateObjects([p], fields);
      },
      expect: /paths must be array/,
    },
    {
      what: 'ServiceEntry: a resolution Istio does not know',
      errors: validate(Object.assign(entry(), { spec: { ...entry().spec, resolution: 'STATIK' } })),
      expect: /spec\/resolution must be equal to one of the allowed values/,
    },
    {
      what: 'ServiceEntry: `endpoint` for `endpoints`',
      errors: validate(Object.assign(entry(), { spec: { ...entry().spec, endpoint: [{ address: '127.0.0.1' }] } })),
      expect: /spec\.endpoint: unknown field/,
    },
    {
      what: 'ServiceEntry: a port number as a word',
      errors: validate(Object.assign(entry(), { spec: { ...entry().spec, ports: [{ name: 'grpc', number: 'grpc', protocol: 'GRPC' }] } })),
      expect: /number must be integer/,
    },
    {
      what: 'a kind @kubernetes-models/istio does not have',
      errors: validate({ apiVersion: 'security.istio.io/v1', kind: 'AuthorisationPolicy', metadata: { name: 'x' } }),
      expect: /no schema for apiVersion "security\.istio\.io\/v1", kind "AuthorisationPolicy"/,
    },
    {
      what: 'mesh config: failopen for failOpen',
      errors: () => {
        const m = structuredClone(operatorMesh()) as unknown as { extensionProviders: Array<{ envoyExtAuthzGrpc: Record<string, unknown> }> };
        m.extensionProviders[0].envoyExtAuthzGrpc.failopen = true;
        return meshConfigErrors(m);
      },
      expect: /meshConfig\.extensionProviders\.0\.envoyExtAuthzGrpc: .*\(failopen\)/,
    },
    {
      what: 'mesh config: a timeout that is not a protobuf Duration',
      errors: () => {
        const m = structuredClone(operatorMesh());
        m.extensionProviders[0].envoyExtAuthzGrpc.timeout = '250ms';
        return meshConfigErrors(m);
      },
      expect: /extensionProviders\.0\.envoyExtAuthzGrpc\.timeout: a duration/,
    },
    {
      what: 'mesh config: a misspelt provider kind',
      errors: () => meshConfigErrors({ extensionProviders: [{ name: 'authz-sidecar', envoyExtAuthzGrcp: { service: 'x', port: 1 } }] }),
      expect: /extensionProviders\.0: .*\(envoyExtAuthzGrcp\)/,
    },
    {
      what: 'mesh config: statusOnError that is no status code',
      errors: () => {
        const m = structuredClone(operatorMesh());
        m.extensionProviders[0].envoyExtAuthzGrpc.statusOnError = 'unavailable';
        return meshConfigErrors(m);
      },
      expect: /statusOnError: an HTTP status code/,
    },
    {
      what: 'IstioOperator: a wrong kind',
      errors: () => istioOperatorErrors({ ...structuredClone(operator), kind: 'IstioOperater' }),
      expect: /no schema for apiVersion "install\.istio\.io\/v1alpha1", kind "IstioOperater"/,
    },
    {
      what: 'IstioOperator: meshconfig for meshConfig',
      errors: () => istioOperatorErrors({ ...structuredClone(operator), spec: { meshconfig: operatorMesh() } }),
      expect: /spec\.meshconfig: unexpected field/,
    },
  ];
}

describe('k8s/overlays/istio', { skip: SKIP }, () => {
  before(() => {
    objects = kustomize(KUBECTL!, OVERLAY);
    mesh = kustomize(KUBECTL!, MESH);
    operator = parseYaml(readFileSync(`${MESH}/istio-operator.yaml`, 'utf8')) as K8sObject;
    values = parseYaml(readFileSync(`${MESH}/istiod-values.yaml`, 'utf8')) as Record<string, unknown>;
    fields = new FieldChecker([
      ...objects,
      ...mesh,
      { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy' },
      { apiVersion: 'networking.istio.io/v1beta1', kind: 'ServiceEntry' },
    ]);
  });

  test('the validators reject broken Istio objects and mesh configs (controls)', () => {
    for (const { what, errors, expect } of brokenIstioObjects()) {
      const found = errors();
      assert.ok(
        found.some((e) => expect.test(e)),
        `${what}: expected an error matching ${expect}, got ${JSON.stringify(found)}`,
      );
    }
  });

  test('every object is valid: Kubernetes against its OpenAPI schema, Istio against its CRD schemas, no unknown field', () => {
    const kinds = new Set([...objects, ...mesh].map((o) => `${o.apiVersion} ${o.kind}`));
    for (const kind of [
      'security.istio.io/v1 AuthorizationPolicy',
      'security.istio.io/v1beta1 PeerAuthentication',
      'networking.istio.io/v1beta1 ServiceEntry',
      'networking.istio.io/v1beta1 DestinationRule',
      'apps/v1 Deployment',
    ]) {
      assert.ok(kinds.has(kind), `rendered a ${kind}`);
    }
    assert.deepEqual(validateObjects(objects, fields), []);
    assert.deepEqual(validateObjects(mesh, fields), []);
  });

  test('the mesh config files are valid and define the same providers', () => {
    assert.deepEqual(istioOperatorErrors(operator), []);
    assert.deepEqual(istiodValuesErrors(values), []);
    assert.deepEqual(values.meshConfig, operatorMesh(), 'istio-operator.yaml and istiod-values.yaml define the same extension providers');
  });

  test("no Envoy of its own: istio-proxy is the pod's Envoy", () => {
    const pod = workload().spec.template.spec;
    assert.deepEqual(
      pod.containers.map((c) => c.name),
      ['app', 'authz-sidecar'],
    );
    assert.ok(!pod.containers.some((c) => c.image.includes('envoy')), 'no Envoy image');
    assert.ok(!(pod.volumes ?? []).some((v) => v.name === 'envoy-config'), 'no envoy-config volume');
    assert.equal(
      objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('envoy-config')),
      undefined,
      'no Envoy bootstrap ConfigMap',
    );
    // Every ConfigMap a volume names is part of the manifests.
    for (const volume of pod.volumes ?? []) {
      const names = volume.configMap ? [volume.configMap.name] : (volume.projected?.sources ?? []).flatMap((s) => (s.configMap ? [s.configMap.name] : []));
      for (const name of names) assert.ok(find(objects, 'ConfigMap', name), `volume ${volume.name}: ConfigMap ${name} exists`);
    }
  });

  test('istio-proxy is injected, skips the admin port and NATS, and starts first', () => {
    const template = workload().spec.template as Workload['spec']['template'] & { metadata: { annotations?: Record<string, string> } };
    const { config } = sidecarView(objects);
    assert.equal(template.metadata.labels['sidecar.istio.io/inject'], 'true');
    const annotations = template.metadata.annotations ?? {};
    const list = (name: string) => (annotations[name] ?? '').split(',').map((p) => p.trim());
    const adminPort = String(hostPort(config.admin.address).port);
    assert.ok(list('traffic.sidecar.istio.io/excludeInboundPorts').includes(adminPort), `the admin port ${adminPort} is not captured`);
    assert.ok(!list('traffic.sidecar.istio.io/excludeInboundPorts').includes('8080'), 'the app port is captured');
    for (const server of config.nats?.servers ?? []) {
      const port = new URL(server).port || '4222';
      assert.ok(list('traffic.sidecar.istio.io/excludeOutboundPorts').includes(port), `NATS port ${port} (server first) is not captured`);
    }
    const proxyConfig = parseYaml(annotations['proxy.istio.io/config'] ?? '') as Record<string, unknown> | null;
    assert.equal(proxyConfig?.holdApplicationUntilProxyStarts, true);
  });

  test('the app takes the traffic istio-proxy forwards to the pod IP; the Service points at it', () => {
    const app = container(workload(), 'app');
    const listen = app.env?.find((e) => e.name === 'LISTEN_ADDRESS')?.value ?? '';
    const { host, port } = hostPort(listen);
    assert.equal(host, '0.0.0.0', 'istio-proxy forwards inbound requests to the pod IP, not to loopback');
    assert.deepEqual(
      app.ports?.map((p) => p.containerPort),
      [port],
    );
    assert.equal(portNumber(app, app.readinessProbe!.httpGet!.port), port, 'the readiness probe asks the app itself');
    const service = find(objects, 'Service', 'orders') as K8sObject & {
      spec: { selector: Record<string, string>; ports: Array<{ name?: string; appProtocol?: string; port: number; targetPort: number | string }> };
    };
    assert.ok(matches(service.spec.selector, workload().spec.template.metadata.labels), 'Service orders selects the orders pods');
    for (const p of service.spec.ports) {
      assert.equal(portNumber(app, p.targetPort), port, `Service port ${p.port} reaches the app`);
      assert.ok(p.appProtocol === 'http' || /^http(-|$)/.test(p.name ?? ''), `Service port ${p.port} is declared HTTP for Istio (name or appProtocol)`);
    }
  });

  test('the AuthorizationPolicy is CUSTOM, names the mesh config provider and selects the orders pods', () => {
    const policies = ofKind<AuthorizationPolicy>(objects, 'AuthorizationPolicy');
    assert.equal(policies.length, 1);
    const [policy] = policies;
    assert.equal(policy.spec.action, 'CUSTOM');
    const providers = operatorMesh().extensionProviders.map((p) => p.name);
    assert.ok(
      providers.includes(policy.spec.provider?.name ?? ''),
      `provider ${policy.spec.provider?.name} is one of the mesh config's: ${providers.join(', ')}`,
    );
    assert.ok(policy.spec.selector, 'the policy selects workloads (no selector would cover the whole namespace)');
    assert.ok(matches(policy.spec.selector.matchLabels, workload().spec.template.metadata.labels), 'the selector matches the pod labels');
    assert.equal(policy.metadata.namespace, workload().metadata.namespace, 'in the namespace of the Deployment');
    for (const rule of policy.spec.rules ?? []) {
      assert.equal(rule.from, undefined, 'CUSTOM rules cannot match principals (istiod refuses from.source.principals); identity is for the sidecar');
      assert.equal(rule.when, undefined);
    }
  });

  test('every request but GET /healthz goes to the sidecar, and the sidecar would allow that one anonymously anyway', async () => {
    const rules = ofKind<AuthorizationPolicy>(objects, 'AuthorizationPolicy')[0].spec.rules ?? [];
    assert.ok(rules.length > 0, 'a CUSTOM policy without rules sends nothing to the provider');
    for (const [method, path] of [
      ['GET', '/api/orders'],
      ['POST', '/api/orders'],
      ['GET', '/'],
      ['POST', '/healthz'],
      ['DELETE', '/healthz'],
      ['HEAD', '/healthz'],
      ['GET', '/healthz/'],
      ['GET', '/healthzx'],
      ['GET', '/HEALTHZ'],
      ['GET', '/admin/users'],
    ]) {
      assert.ok(ruleMatches(rules, method, path), `${method} ${path} is checked by the sidecar`);
    }
    assert.equal(ruleMatches(rules, 'GET', '/healthz'), false, 'GET /healthz skips the sidecar, as in the base Envoy');

    // What skips the sidecar must be what the policy allows without credentials anyway: the
    // example policy mounted next to the config, and the one the k8s/README walk-through publishes.
    const { files } = sidecarView(objects);
    const mounted = files.get('/etc/authz-sidecar/policy.yaml');
    assert.ok(mounted, 'the example policy is mounted');
    const dir = mkdtempSync(join(tmpdir(), 'k8s-istio-'));
    try {
      writeFileSync(join(dir, 'mounted.yaml'), mounted);
      writeFileSync(
        join(dir, 'cases.yaml'),
        'cases:\n  - name: health skips the sidecar\n    request: { method: GET, path: /healthz }\n    expect: { decision: allow }\n',
      );
      for (const policy of [join(dir, 'mounted.yaml'), `${ROOT}deploy/examples/policy.yaml`]) {
        const run = await authzctl('policy', 'test', policy, '--cases', join(dir, 'cases.yaml'));
        assert.equal(run.code, 0, `${policy}: ${run.stdout}${run.stderr}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the provider reaches the sidecar of the same pod: ServiceEntry on 127.0.0.1 at its gRPC port, plain text, fail closed', () => {
    const { config } = sidecarView(objects);
    const grpc = hostPort(config.grpc.address);
    assert.equal(grpc.host, '127.0.0.1', 'Check stays on loopback');
    const policy = ofKind<AuthorizationPolicy>(objects, 'AuthorizationPolicy')[0];
    const provider = operatorMesh().extensionProviders.find((p) => p.name === policy.spec.provider?.name)!.envoyExtAuthzGrpc;
    assert.equal(provider.port, grpc.port, "the provider's port is the sidecar's grpc.address port");
    assert.equal(provider.failOpen, false, 'failOpen: false, said explicitly');
    assert.equal(provider.statusOnError, '503', 'an unreachable sidecar is a 503, not a 403 that looks like a decision');
    assert.ok(provider.timeout, "a timeout (Istio's default is 600 s)");
    assert.ok(Number(provider.timeout.slice(0, -1)) <= 1, `timeout ${provider.timeout} is at most 1 s`);
    assert.equal(provider.includeRequestBodyInCheck, undefined, 'the sidecar never reads the body');

    const { namespace, host } = providerService(provider.service);
    assert.ok(namespace, `the provider's service names its namespace (${provider.service}), so no other definition of the host makes it ambiguous`);
    const entries = ofKind<ServiceEntry>(mesh, 'ServiceEntry').filter((e) => e.spec.hosts.includes(host));
    assert.equal(entries.length, 1, `one ServiceEntry for ${host}`);
    const [entry] = entries;
    assert.equal(entry.metadata.namespace, namespace, `the ServiceEntry is in ${namespace}`);
    assert.equal(entry.spec.resolution, 'STATIC');
    assert.deepEqual(
      entry.spec.endpoints?.map((e) => e.address),
      [grpc.host],
      'its one endpoint is the pod loopback',
    );
    assert.deepEqual(
      entry.spec.ports.map((p) => [p.number, p.protocol]),
      [[grpc.port, 'GRPC']],
      'one port, the sidecar gRPC port, declared GRPC (HTTP/2)',
    );
    assert.deepEqual(entry.spec.exportTo, ['*'], 'visible from every namespace');
    assert.ok(
      !objects.some((o) => o.kind === 'ServiceEntry'),
      'the overlay defines no ServiceEntry of its own: a second definition of the host would make the provider ambiguous',
    );
    const rules = ofKind<DestinationRule>(mesh, 'DestinationRule').filter((r) => r.spec.host === host);
    assert.equal(rules.length, 1, `one DestinationRule for ${host}`);
    assert.equal(rules[0].spec.trafficPolicy?.tls?.mode, 'DISABLE', 'plain text to the sidecar, whatever mesh-wide rule exists');
  });

  test("the sidecar config passes the sidecar's own schema; every file it names is mounted", () => {
    const { config, files, configPath } = sidecarView(objects);
    assert.equal(config.service, 'orders');
    for (const path of filesNamedBy(config))
      assert.ok(files.has(path), `${configPath} names ${path}, which is not mounted (mounted: ${[...files.keys()].join(', ')})`);
    if (config.policy?.file) compilePolicyText(files.get(config.policy.file)!, config.policy.file, { service: config.service });
  });

  test('STRICT mTLS for the orders pods, so every Check carries the caller principal', () => {
    const peer = ofKind<K8sObject & { spec: { selector?: { matchLabels: Record<string, string> }; mtls?: { mode?: string } } }>(objects, 'PeerAuthentication');
    assert.equal(peer.length, 1);
    assert.ok(peer[0].spec.selector && matches(peer[0].spec.selector.matchLabels, workload().spec.template.metadata.labels));
    assert.equal(peer[0].spec.mtls?.mode, 'STRICT');
  });

  test("NetworkPolicy: ingress to the app's 8080 only; egress to NATS, DNS and istiod", () => {
    const policy = find(objects, 'NetworkPolicy', 'orders') as K8sObject & {
      spec: {
        podSelector: { matchLabels: Record<string, string> };
        ingress: Array<{ ports?: Array<{ port: number; protocol?: string }> }>;
        egress: Array<{ to?: Array<{ namespaceSelector?: { matchLabels: Record<string, string> } }>; ports?: Array<{ port: number; protocol?: string }> }>;
      };
    };
    assert.ok(matches(policy.spec.podSelector.matchLabels, workload().spec.template.metadata.labels));
    const ports = (rules: Array<{ ports?: Array<{ port: number; protocol?: string }> }>) =>
      rules.flatMap((r) => (r.ports ?? []).map((p) => `${p.port}/${p.protocol ?? 'TCP'}`));
    assert.deepEqual(ports(policy.spec.ingress), ['8080/TCP']);
    assert.deepEqual(ports(policy.spec.egress).sort(), ['15012/TCP', '4222/TCP', '53/TCP', '53/UDP']);
    const istiod = policy.spec.egress.find((r) => r.ports?.some((p) => p.port === 15012))!;
    assert.ok(
      istiod.to?.some((t) => t.namespaceSelector?.matchLabels['kubernetes.io/metadata.name'] === 'istio-system'),
      'xDS and certificates from istiod in istio-system',
    );
  });

  test('the containers keep their hardening and shutdown order', () => {
    const pod = workload().spec.template.spec;
    for (const c of pod.containers) {
      const own = c.securityContext ?? {};
      assert.equal(own.allowPrivilegeEscalation, false, `${c.name}: allowPrivilegeEscalation`);
      assert.equal(own.readOnlyRootFilesystem, true, `${c.name}: readOnlyRootFilesystem`);
      assert.ok(own.capabilities?.drop?.includes('ALL'), `${c.name}: drop ALL`);
      assert.ok(quantity(c.resources!.requests!.memory) <= quantity(c.resources!.limits!.memory), `${c.name}: memory request <= limit`);
    }
    assert.equal(pod.securityContext?.runAsNonRoot, true);
    const sidecar = container(workload(), 'authz-sidecar');
    const { config } = sidecarView(objects);
    const hold = Number(sidecar.lifecycle?.preStop?.exec?.command.at(-1));
    assert.ok(hold >= 15, `the sidecar outlives istio-proxy's drain (preStop ${hold} s)`);
    assert.ok((pod.terminationGracePeriodSeconds ?? 30) >= hold + config.shutdown.drainSeconds + 5, 'the grace period covers preStop and drain');
  });
});
