/**
 * The Kubernetes manifests: k8s/base and both overlays rendered with `kubectl kustomize`,
 * every object validated against the Kubernetes OpenAPI schema (unknown fields included),
 * then the conventions that make the pod work: probes that can reach their ports, shutdown
 * ordered so Envoy drains before the sidecar stops, a config that passes the sidecar's own
 * schema with every file it names mounted where it looks, and the hardening rules.
 */
import { spawnSync } from 'node:child_process';
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadSigners } from '../../src/control/signers.js';
import { compilePolicyText } from '../../src/policy/index.js';
import { ROOT } from '../../testkit/paths.js';
import { SIDECAR_NODE_FLAGS } from '../../testkit/launcher.js';
import { FieldChecker, validateObjects, type K8sObject } from '../../testkit/k8s-validate.js';
import {
  argAfter,
  container,
  filesNamedBy,
  find,
  findKubectl,
  hostPort,
  kustomize,
  matches,
  mountedFiles,
  portNumber,
  quantity,
  sidecarView,
  volumeAt,
  workloads,
  type Container,
  type Probe,
  type Workload,
} from '../../testkit/k8s-manifests.js';

const KUBECTL = findKubectl();
// CI may run where kubectl is absent; then, and only then, these tests are skipped.
const SKIP = KUBECTL ? false : 'kubectl is not on PATH: k8s/ is rendered with `kubectl kustomize` (offline). Install kubectl to run these tests.';

const VARIANTS = { base: 'k8s/base', dev: 'k8s/overlays/dev', prod: 'k8s/overlays/prod' } as const;
type Variant = keyof typeof VARIANTS;

const SIDECAR = 'authz-sidecar';
const ADMIN_PORT = 9192;
const ENVOY_ADMIN_PORT = 9901;
const ENVOY_CONFIG_SOURCE = `${ROOT}deploy/envoy/envoy.yaml`;
const ENVOY_CONFIG_COPY = `${ROOT}k8s/base/envoy.yaml`;

const rendered = new Map<Variant, K8sObject[]>();
let fields: FieldChecker;

/** The deliberately broken objects of the negative controls, built from a rendered Deployment. */
function brokenObjects(deployment: K8sObject): Array<{ what: string; object: K8sObject; expect: RegExp }> {
  const copy = () => structuredClone(deployment) as Workload;
  const cases: Array<{ what: string; mutate: (d: Workload) => void; expect: RegExp }> = [
    { what: 'replicas: "three"', mutate: (d) => ((d.spec as Record<string, unknown>).replicas = 'three'), expect: /spec\/replicas must be integer/ },
    {
      what: 'an unknown field in a container',
      mutate: (d) => ((d.spec.template.spec.containers[0] as unknown as Record<string, unknown>).readinesProbe = { httpGet: { path: '/', port: 8080 } }),
      expect: /spec\.template\.spec\.containers\[0\]\.readinesProbe: unknown field/,
    },
    {
      what: 'an unknown field deep in a probe',
      mutate: (d) => ((d.spec.template.spec.containers[2].readinessProbe!.httpGet as Record<string, unknown>).paht = '/readyz'),
      expect: /containers\[2\]\.readinessProbe\.httpGet\.paht: unknown field/,
    },
    { what: 'an unknown top-level field', mutate: (d) => ((d as Record<string, unknown>).specs = {}), expect: /: specs: unknown field/ },
    {
      what: 'a memory limit that is not a quantity',
      mutate: (d) => (d.spec.template.spec.containers[0].resources!.limits!.memory = 'lots'),
      expect: /limits\/memory must match format "quantity"/,
    },
    {
      what: 'a port given as a word',
      mutate: (d) => ((d.spec.template.spec.containers[1].ports![0] as Record<string, unknown>).containerPort = 'http'),
      expect: /containerPort must be integer/,
    },
    {
      what: 'no containers',
      mutate: (d) => delete (d.spec.template.spec as Partial<Workload['spec']['template']['spec']>).containers,
      expect: /must have required property '?containers'?/,
    },
    {
      what: 'runAsUser as a string',
      mutate: (d) => ((d.spec.template.spec.containers[2].securityContext as Record<string, unknown>).runAsUser = '10001'),
      expect: /runAsUser must be integer/,
    },
  ];
  return [
    ...cases.map(({ what, mutate, expect }) => {
      const object = copy();
      mutate(object);
      return { what, object: object, expect };
    }),
    { what: 'a misspelt kind', object: { ...copy(), kind: 'Deploymnet' }, expect: /no schema for apiVersion "apps\/v1", kind "Deploymnet"/ },
    {
      what: 'ConfigMap data that is not a string',
      object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: { 'config.yaml': 42 } },
      expect: /data\/config\.yaml must be string/,
    },
    {
      what: 'a misspelt NetworkPolicy field',
      object: { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'x' }, spec: { podSelector: {}, egres: [] } },
      expect: /spec\.egres: unknown field/,
    },
  ];
}

// ---------------------------------------------------------------- reading a rendered variant

const orders = (objects: readonly K8sObject[]) => {
  const deployment = find(objects, 'Deployment', 'orders') as Workload | undefined;
  assert.ok(deployment, 'a Deployment "orders"');
  return deployment;
};

/** Seconds a preStop hook holds the container: the sleep action, or `sleep N` in an exec. */
function preStopSeconds(c: Container): number {
  const hook = c.lifecycle?.preStop;
  assert.ok(hook, `${c.name} has a preStop hook`);
  if (hook.sleep) return hook.sleep.seconds;
  const script = (hook.exec?.command ?? []).join(' ');
  const sleeps = [...script.matchAll(/\bsleep\s+(\d+)/g)].map((m) => Number(m[1]));
  assert.ok(sleeps.length > 0, `${c.name}'s preStop sleeps: ${script}`);
  return sleeps.reduce((a, b) => a + b, 0);
}

function httpGet(c: Container, probe: Probe | undefined, kind: string): { path: string; port: number } {
  assert.ok(probe?.httpGet, `${c.name} has an httpGet ${kind}`);
  assert.equal(probe.httpGet.host, undefined, `${c.name} ${kind}: host would send kubelet somewhere else than the pod`);
  const port = portNumber(c, probe.httpGet.port);
  assert.ok(port !== undefined, `${c.name} ${kind}: port ${probe.httpGet.port} resolves to a container port`);
  return { path: probe.httpGet.path ?? '/', port };
}

interface EnvoyBootstrap {
  admin: { address: { socket_address: { address: string; port_value: number } } };
  static_resources: {
    listeners: Array<{ address: { socket_address: { address: string; port_value: number } } }>;
    clusters: Array<{
      name: string;
      load_assignment: { endpoints: Array<{ lb_endpoints: Array<{ endpoint: { address: { socket_address: { address: string; port_value: number } } } }> }> };
    }>;
  };
}

function envoyBootstrap(objects: readonly K8sObject[]): { envoy: Container; bootstrap: EnvoyBootstrap } {
  const workload = orders(objects);
  const envoy = container(workload, 'envoy');
  const path = argAfter(envoy.args, '-c') ?? argAfter(envoy.args, '--config-path');
  assert.ok(path, 'envoy is started with -c FILE');
  const text = mountedFiles(objects, workload, envoy).get(path);
  assert.ok(text !== undefined, `${path} is mounted into envoy`);
  return { envoy, bootstrap: parseYaml(text) as EnvoyBootstrap };
}

// ---------------------------------------------------------------- the tests

describe('k8s manifests', { skip: SKIP }, () => {
  before(() => {
    for (const [variant, dir] of Object.entries(VARIANTS) as Array<[Variant, string]>) rendered.set(variant, kustomize(KUBECTL!, `${ROOT}${dir}`));
    const all = [...rendered.values()].flat();
    fields = new FieldChecker([...all, ...brokenObjects(orders(rendered.get('base')!)).map((b) => b.object)]);
  });

  test('the validator rejects broken objects and accepts the rendered ones (controls)', () => {
    const deployment = orders(rendered.get('base')!);
    assert.deepEqual(validateObjects([deployment], fields), [], 'the unmodified Deployment is valid');
    for (const { what, object, expect } of brokenObjects(deployment)) {
      const errors = validateObjects([object], fields);
      assert.ok(
        errors.some((e) => expect.test(e)),
        `${what}: expected an error matching ${expect}, got ${JSON.stringify(errors)}`,
      );
    }
  });

  test('k8s/base/envoy.yaml is a byte-for-byte copy of deploy/envoy/envoy.yaml', (t) => {
    if (!existsSync(ENVOY_CONFIG_SOURCE)) return t.skip('deploy/envoy/envoy.yaml does not exist yet');
    assert.ok(readFileSync(ENVOY_CONFIG_COPY).equals(readFileSync(ENVOY_CONFIG_SOURCE)), 'copy deploy/envoy/envoy.yaml to k8s/base/envoy.yaml');
  });

  for (const variant of Object.keys(VARIANTS) as Variant[]) {
    describe(variant, () => {
      const objects = () => rendered.get(variant)!;

      test('every object is valid against the Kubernetes OpenAPI schema, with no unknown field', () => {
        assert.ok(objects().length >= 7, `rendered ${objects().length} objects`);
        assert.deepEqual(validateObjects(objects(), fields), []);
      });

      test('every object is labelled; every workload selects its own pods', () => {
        for (const object of objects()) {
          for (const label of ['app.kubernetes.io/name', 'app.kubernetes.io/part-of', 'app.kubernetes.io/managed-by'])
            assert.ok(object.metadata.labels?.[label], `${object.kind}/${object.metadata.name} has label ${label}`);
        }
        for (const workload of workloads(objects())) {
          assert.ok(
            matches(workload.spec.selector.matchLabels, workload.spec.template.metadata.labels),
            `${workload.metadata.name}: selector matches its template`,
          );
        }
      });

      test('orders runs app, envoy and authz-sidecar with pinned images', () => {
        const names = orders(objects()).spec.template.spec.containers.map((c) => c.name);
        assert.deepEqual(names, ['app', 'envoy', SIDECAR]);
        assert.equal(container(orders(objects()), SIDECAR).image, 'ghcr.io/example/authz-sidecar:0.1.0');
        for (const c of workloads(objects()).flatMap((w) => w.spec.template.spec.containers)) {
          assert.match(c.image, /:[\w][\w.-]*$/, `${c.name}: image ${c.image} has a tag`);
          assert.doesNotMatch(c.image, /:latest$/, `${c.name}: image ${c.image} is not :latest`);
        }
      });

      test('every container has cpu and memory requests and limits', () => {
        for (const workload of workloads(objects())) {
          for (const c of workload.spec.template.spec.containers) {
            for (const kind of ['requests', 'limits'] as const) {
              for (const resource of ['cpu', 'memory']) {
                const value = c.resources?.[kind]?.[resource];
                assert.ok(value, `${workload.metadata.name}/${c.name}: resources.${kind}.${resource}`);
              }
            }
            for (const resource of ['cpu', 'memory'])
              assert.ok(quantity(c.resources!.requests![resource]) <= quantity(c.resources!.limits![resource]), `${c.name}: ${resource} request <= limit`);
          }
        }
      });

      test('every container: non-root numeric user, no privilege escalation, read-only root, no capabilities, RuntimeDefault seccomp', () => {
        for (const workload of workloads(objects())) {
          const pod = workload.spec.template.spec.securityContext ?? {};
          for (const c of workload.spec.template.spec.containers) {
            const own = c.securityContext ?? {};
            const at = `${workload.metadata.name}/${c.name}`;
            assert.equal(own.runAsNonRoot ?? pod.runAsNonRoot, true, `${at}: runAsNonRoot`);
            const uid = own.runAsUser ?? pod.runAsUser;
            assert.ok(Number.isInteger(uid) && uid! > 0, `${at}: runAsUser is a numeric non-root uid (${uid})`);
            assert.equal(own.allowPrivilegeEscalation, false, `${at}: allowPrivilegeEscalation: false`);
            assert.equal(own.readOnlyRootFilesystem, true, `${at}: readOnlyRootFilesystem: true`);
            assert.notEqual(own.privileged, true, `${at}: not privileged`);
            assert.ok(own.capabilities?.drop?.includes('ALL'), `${at}: capabilities.drop [ALL]`);
            assert.deepEqual(own.capabilities?.add ?? [], [], `${at}: no capability added`);
            assert.equal((own.seccompProfile ?? pod.seccompProfile)?.type, 'RuntimeDefault', `${at}: seccompProfile RuntimeDefault`);
          }
        }
      });

      test("the sidecar runs as the image's USER", () => {
        const user = /^USER\s+(\d+)(?::(\d+))?\s*$/m.exec(readFileSync(`${ROOT}Dockerfile`, 'utf8'));
        assert.ok(user, 'the Dockerfile sets a numeric USER');
        const sidecar = container(orders(objects()), SIDECAR);
        assert.equal(sidecar.securityContext?.runAsUser, Number(user[1]));
        if (user[2] !== undefined) assert.equal(sidecar.securityContext?.runAsGroup, Number(user[2]));
      });

      test("the sidecar config passes the sidecar's own schema; every file it names is mounted", () => {
        const { config, files, configPath } = sidecarView(objects());
        assert.equal(config.service, 'orders');
        for (const path of filesNamedBy(config))
          assert.ok(files.has(path), `${configPath} names ${path}, which is not mounted (mounted: ${[...files.keys()].join(', ')})`);
        if (config.policy?.file) compilePolicyText(files.get(config.policy.file)!, config.policy.file, { service: config.service });
      });

      test('the pinned control-plane keys are mounted where nats.signers points, and are public keys', async () => {
        const { config, files, sidecar } = sidecarView(objects());
        assert.ok(config.nats, 'the config has a nats section');
        const dir = mkdtempSync(join(tmpdir(), 'k8s-signers-'));
        try {
          const copies = config.nats.signers.map((path, i) => {
            const mount = (sidecar.volumeMounts ?? []).find((m) => path.startsWith(`${m.mountPath}/`));
            assert.ok(mount, `${path} is under one of ${SIDECAR}'s mounts`);
            const content = files.get(path);
            assert.ok(content !== undefined, `${path} is mounted from a ConfigMap`);
            const copy = join(dir, `${i}.jwk.json`);
            writeFileSync(copy, content);
            return copy;
          });
          // The sidecar's own loader: refuses private members, unknown curves, missing kid.
          const signers = await loadSigners(copies);
          assert.equal(signers.size, config.nats.signers.length);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
        // No ConfigMap carries a private key, whatever its name.
        for (const cm of objects().filter((o) => o.kind === 'ConfigMap')) {
          for (const [key, value] of Object.entries((cm as { data?: Record<string, string> }).data ?? {})) {
            assert.doesNotMatch(value, /"(d|p|q|dp|dq|qi|k)"\s*:/, `ConfigMap ${cm.metadata.name} ${key} holds a private JWK member`);
          }
        }
      });

      test('the cache emptyDir is mounted, writable, at nats.cacheDir', () => {
        const { config, workload, sidecar } = sidecarView(objects());
        const volume = volumeAt(workload, sidecar, config.nats!.cacheDir);
        assert.ok(volume?.emptyDir, `an emptyDir is mounted at ${config.nats!.cacheDir}`);
        const mount = sidecar.volumeMounts!.find((m) => m.name === volume.name)!;
        assert.notEqual(mount.readOnly, true, 'the cache mount is writable');
      });

      test('the sidecar: Check on loopback, admin where kubelet reaches it, probes on /readyz and /healthz of 9192', () => {
        const { config, sidecar } = sidecarView(objects());
        assert.equal(config.grpc.address, '127.0.0.1:9191', 'only Envoy in the pod can call Check');
        const admin = hostPort(config.admin.address);
        assert.equal(admin.port, ADMIN_PORT);
        // kubelet's httpGet probes connect to the pod IP; a loopback-bound admin fails them all.
        assert.ok(!['127.0.0.1', 'localhost', '[::1]'].includes(admin.host), `admin.address ${config.admin.address} must not be loopback for httpGet probes`);
        assert.deepEqual(httpGet(sidecar, sidecar.readinessProbe, 'readinessProbe'), { path: '/readyz', port: ADMIN_PORT });
        assert.deepEqual(httpGet(sidecar, sidecar.livenessProbe, 'livenessProbe'), { path: '/healthz', port: ADMIN_PORT });
        if (sidecar.startupProbe) assert.deepEqual(httpGet(sidecar, sidecar.startupProbe, 'startupProbe'), { path: '/healthz', port: ADMIN_PORT });
        assert.ok(!(sidecar.ports ?? []).some((p) => p.containerPort === 9191), '9191 is not declared: it is loopback-only');
      });

      test('the sidecar: POD_NAME from the downward API, V8 heap below the memory limit', () => {
        const { sidecar, config } = sidecarView(objects());
        const podName = sidecar.env?.find((e) => e.name === 'POD_NAME');
        assert.equal(podName?.valueFrom?.fieldRef?.fieldPath, 'metadata.name');
        assert.equal(config.nats?.instance, undefined, 'nats.instance unset, so each pod reports as $POD_NAME');
        const options = sidecar.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
        const heap = /--max-old-space-size=(\d+)/.exec(options);
        assert.ok(heap, `NODE_OPTIONS sets --max-old-space-size: "${options}"`);
        const limitMiB = quantity(sidecar.resources!.limits!.memory) / 1024 ** 2;
        assert.ok(Number(heap[1]) <= limitMiB * 0.75, `heap ${heap[1]} MiB leaves room below the ${limitMiB} MiB limit`);
      });

      test("node starts with the sidecar's NODE_OPTIONS and the launcher's node flags together", () => {
        // Node refuses some V8 flags in NODE_OPTIONS (--min-semi-space-size among them) and
        // exits 9 before running anything: the pod would crash-loop.
        const { sidecar } = sidecarView(objects());
        // A `command:` would replace the ENTRYPOINT, and with it node's flags (the fixed new
        // space, the heap growing factor, --expose-gc for runtime.idleCollection).
        assert.equal(sidecar.command, undefined, "the sidecar keeps the image's ENTRYPOINT and its node flags");
        const options = sidecar.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
        const flags = SIDECAR_NODE_FLAGS;
        const run = spawnSync(process.execPath, [...flags, '-e', 'process.stdout.write(String(require("v8").getHeapStatistics().heap_size_limit))'], {
          env: { ...process.env, NODE_OPTIONS: options },
          encoding: 'utf8',
        });
        assert.equal(run.status, 0, `node ${flags.join(' ')} with NODE_OPTIONS="${options}": ${run.stderr}`);
        const cap = /--max-old-space-size=(\d+)/.exec(options);
        if (cap) assert.ok(Number(run.stdout) >= Number(cap[1]) * 1024 ** 2, `the heap cap applies: limit ${run.stdout}`);
      });

      test('shutdown is ordered: Envoy drains, then the app and the sidecar stop, within the grace period', () => {
        const workload = orders(objects());
        const { config } = sidecarView(objects());
        const envoy = container(workload, 'envoy');
        const drainScript = (envoy.lifecycle?.preStop?.exec?.command ?? []).join(' ');
        assert.match(drainScript, new RegExp(`127\\.0\\.0\\.1/${ENVOY_ADMIN_PORT}\\b`), 'envoy preStop talks to its admin port');
        assert.match(drainScript, /POST \/drain_listeners\?graceful/, 'envoy preStop starts a graceful drain');
        const envoyDrain = preStopSeconds(envoy);
        const drainTime = Number(argAfter(envoy.args, '--drain-time-s') ?? 600);
        assert.ok(drainTime <= envoyDrain, `Envoy's --drain-time-s (${drainTime}) ends within its preStop (${envoyDrain} s)`);
        const sidecarStop = preStopSeconds(container(workload, SIDECAR));
        assert.ok(sidecarStop > envoyDrain, `the sidecar (${sidecarStop} s) outlives Envoy's drain (${envoyDrain} s)`);
        assert.ok(preStopSeconds(container(workload, 'app')) >= envoyDrain, 'the app serves until Envoy has drained');
        const grace = workload.spec.template.spec.terminationGracePeriodSeconds ?? 30;
        assert.ok(
          grace >= sidecarStop + config.shutdown.drainSeconds + 5,
          `grace period ${grace} s covers the sidecar's preStop and drain (${sidecarStop} + ${config.shutdown.drainSeconds} s)`,
        );
      });

      test('Envoy: readiness on its admin /ready, config mounted, ports agree with its bootstrap', () => {
        const { envoy, bootstrap } = envoyBootstrap(objects());
        const { config } = sidecarView(objects());
        const adminPort = bootstrap.admin.address.socket_address.port_value;
        assert.equal(adminPort, ENVOY_ADMIN_PORT);
        const probe = envoy.readinessProbe;
        if (probe?.httpGet) assert.deepEqual(httpGet(envoy, probe, 'readinessProbe'), { path: '/ready', port: adminPort });
        else {
          // The admin is loopback-only, so the probe runs inside the container.
          const script = (probe?.exec?.command ?? []).join(' ');
          assert.match(script, new RegExp(`/dev/tcp/127\\.0\\.0\\.1/${adminPort}\\b`), `envoy readiness connects to its admin: ${script}`);
          assert.match(script, /GET \/ready HTTP\/1\.1/);
          assert.match(script, /= 200 \]/, 'and requires a 200');
        }
        const listener = bootstrap.static_resources.listeners[0].address.socket_address;
        assert.deepEqual(
          envoy.ports?.map((p) => p.containerPort),
          [listener.port_value],
        );
        const authz = bootstrap.static_resources.clusters.find((c) => c.name === 'authz_sidecar')!;
        const endpoint = authz.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
        assert.equal(`${endpoint.address}:${endpoint.port_value}`, config.grpc.address, 'Envoy calls the sidecar where it listens');
      });

      test('ServiceAccount without token; the Service sends traffic to Envoy', () => {
        const workload = orders(objects());
        const account = find(objects(), 'ServiceAccount', workload.spec.template.spec.serviceAccountName ?? 'default') as K8sObject & {
          automountServiceAccountToken?: boolean;
        };
        assert.ok(account, `the pod's ServiceAccount ${workload.spec.template.spec.serviceAccountName} is part of the manifests`);
        assert.equal(account.automountServiceAccountToken, false);
        assert.notEqual(workload.spec.template.spec.automountServiceAccountToken, true);
        const service = find(objects(), 'Service', 'orders') as K8sObject & {
          spec: { selector: Record<string, string>; ports: Array<{ port: number; targetPort: number | string }> };
        };
        assert.ok(service && matches(service.spec.selector, workload.spec.template.metadata.labels), 'Service orders selects the orders pods');
        const envoy = container(workload, 'envoy');
        assert.deepEqual(
          service.spec.ports.map((p) => [p.port, portNumber(envoy, p.targetPort)]),
          [[8080, 8080]],
        );
      });

      test("NetworkPolicy: ingress to Envoy's 8080 only, egress to NATS and DNS only", () => {
        const workload = orders(objects());
        const policy = find(objects(), 'NetworkPolicy', 'orders') as K8sObject & {
          spec: {
            podSelector: { matchLabels: Record<string, string> };
            policyTypes: string[];
            ingress: Array<{ ports?: Array<{ port: number; protocol?: string }> }>;
            egress: Array<{ to?: unknown[]; ports?: Array<{ port: number; protocol?: string }> }>;
          };
        };
        assert.ok(policy, 'a NetworkPolicy "orders"');
        assert.ok(matches(policy.spec.podSelector.matchLabels, workload.spec.template.metadata.labels), 'it selects the orders pods');
        assert.deepEqual([...policy.spec.policyTypes].sort(), ['Egress', 'Ingress']);
        const ports = (rules: Array<{ ports?: Array<{ port: number; protocol?: string }> }>) =>
          rules.flatMap((r) => {
            assert.ok(r.ports && r.ports.length > 0, 'every rule names its ports (no rule open on every port)');
            return r.ports.map((p) => `${p.port}/${p.protocol ?? 'TCP'}`);
          });
        assert.deepEqual(ports(policy.spec.ingress), ['8080/TCP']);
        assert.deepEqual(ports(policy.spec.egress).sort(), ['4222/TCP', '53/TCP', '53/UDP']);
        if (variant !== 'base') {
          const nats = policy.spec.egress.find((r) => r.ports!.some((p) => p.port === 4222))!;
          assert.ok(nats.to && nats.to.length > 0, `${variant}: NATS egress is narrowed to where NATS runs`);
        }
      });
    });
  }

  describe('dev: its own NATS', () => {
    test('runs its own single-node NATS with JetStream, and the sidecar takes everything from it', () => {
      const objects = rendered.get('dev')!;
      const nats = workloads(objects).find((w) => w.spec.template.spec.containers.some((c) => c.image.startsWith('nats:')));
      assert.ok(nats, 'a NATS workload');
      const server = nats.spec.template.spec.containers.find((c) => c.image.startsWith('nats:'))!;
      const args = [...(server.command ?? []), ...(server.args ?? [])];
      assert.ok(args.includes('-js') || args.includes('--jetstream'), `NATS runs with JetStream: ${args.join(' ')}`);
      const store = argAfter(args, '-sd') ?? argAfter(args, '--store_dir');
      assert.ok(store && volumeAt(nats, server, store), `the JetStream store ${store} is a volume`);

      const service = find(objects, 'Service', 'nats') as K8sObject & {
        spec: { selector: Record<string, string>; ports: Array<{ port: number; targetPort: number | string }> };
      };
      assert.ok(service && matches(service.spec.selector, nats.spec.template.metadata.labels), 'Service nats selects the NATS pod');
      assert.deepEqual(
        service.spec.ports.map((p) => [p.port, portNumber(server, p.targetPort)]),
        [[4222, 4222]],
      );

      const { config } = sidecarView(objects);
      assert.deepEqual(config.nats?.servers, ['nats://nats:4222']);
      assert.equal(config.policy!.nats, true, 'policy over NATS');
      assert.ok(config.issuers.length > 0 && config.issuers.every((i) => i.keys?.nats === true), 'issuer keys over NATS');
      const policy = find(objects, 'NetworkPolicy', 'orders') as K8sObject & {
        spec: { egress: Array<{ to?: Array<{ podSelector?: { matchLabels: Record<string, string> } }>; ports?: Array<{ port: number }> }> };
      };
      const rule = policy.spec.egress.find((r) => r.ports?.some((p) => p.port === 4222))!;
      assert.ok(
        rule.to?.some((t) => t.podSelector && matches(t.podSelector.matchLabels, nats.spec.template.metadata.labels)),
        'NATS egress goes to these NATS pods',
      );
    });

    test("its control-plane public key is the committed development key's public half", async () => {
      const { config, files } = sidecarView(rendered.get('dev')!);
      const pinned = JSON.parse(files.get(config.nats!.signers[0])!) as { kid: string; x: string };
      const dev = JSON.parse(readFileSync(`${ROOT}k8s/overlays/dev/control-plane-dev.private.jwk.json`, 'utf8')) as { kid: string; x: string };
      assert.deepEqual([pinned.kid, pinned.x], [dev.kid, dev.x], 'the k8s/README walk-through signs with control-plane-dev.private.jwk.json');
    });
  });

  describe('prod: availability', () => {
    test('three replicas spread over nodes, a PodDisruptionBudget that lets one go, no NATS of its own', () => {
      const objects = rendered.get('prod')!;
      const workload = orders(objects);
      const replicas = workload.spec.replicas ?? 1;
      assert.ok(replicas >= 3, `replicas ${replicas}`);
      const spec = workload.spec.template.spec;
      assert.ok((spec.topologySpreadConstraints ?? []).length > 0 || spec.affinity?.podAntiAffinity, 'topology spread or pod anti-affinity');

      const budgets = objects.filter((o) => o.kind === 'PodDisruptionBudget') as Array<
        K8sObject & { spec: { minAvailable?: number | string; maxUnavailable?: number | string; selector: { matchLabels: Record<string, string> } } }
      >;
      const budget = budgets.find((b) => matches(b.spec.selector.matchLabels, workload.spec.template.metadata.labels));
      assert.ok(budget, 'a PodDisruptionBudget selects the orders pods');
      const { minAvailable, maxUnavailable } = budget.spec;
      if (minAvailable !== undefined) {
        assert.equal(typeof minAvailable, 'number');
        assert.ok(
          (minAvailable as number) >= 2 && (minAvailable as number) < replicas,
          `minAvailable ${minAvailable}: at least 2, and below replicas so a drain can proceed`,
        );
      } else assert.equal(maxUnavailable, 1);

      assert.ok(!workloads(objects).some((w) => w.spec.template.spec.containers.some((c) => /(^|\/)nats(:|@|$)/.test(c.image))), 'no NATS workload');
      assert.equal(find(objects, 'Service', 'nats'), undefined, 'no NATS Service');
      const { config } = sidecarView(objects);
      assert.ok((config.nats?.servers.length ?? 0) >= 2, 'several NATS servers');
      for (const server of config.nats!.servers) assert.match(server, /^nats:\/\/[a-z0-9.-]+\.nats-system\.svc(\.cluster\.local)?:4222$/);
      assert.equal(config.policy!.nats, true, 'policy over NATS');
    });
  });
});
