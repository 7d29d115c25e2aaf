/**
 * Renders the kustomizations under k8s/ with `kubectl kustomize` (offline) and reads the
 * result: objects, a workload's containers, and the files a container sees under a mount.
 */
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { accessSync, constants } from 'node:fs';
import { delimiter, join, posix } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseConfig, protectedServices, type Config } from '../src/config/index.js';
import type { K8sObject } from './k8s-validate.js';

/** The kubectl on PATH, or undefined. */
export function findKubectl(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'kubectl');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export function kustomize(kubectl: string, dir: string): K8sObject[] {
  const text = execFileSync(kubectl, ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return parseManifests(text, dir);
}

export function parseManifests(text: string, name: string): K8sObject[] {
  return parseAllDocuments(text).flatMap((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${name}: document ${i}: ${doc.errors[0].message}`);
    const value = doc.toJS() as K8sObject | null;
    return value === null ? [] : [value];
  });
}

export interface Probe {
  httpGet?: { path?: string; port: number | string; host?: string };
  exec?: { command: string[] };
  tcpSocket?: { port: number | string };
  grpc?: { port: number };
  periodSeconds?: number;
  failureThreshold?: number;
  timeoutSeconds?: number;
}

export interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  privileged?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
  seccompProfile?: { type: string };
}

export interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>;
  ports?: Array<{ name?: string; containerPort: number; protocol?: string }>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number }; httpGet?: unknown } };
  securityContext?: SecurityContext;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean; subPath?: string }>;
}

export interface Volume {
  name: string;
  configMap?: { name: string; items?: Array<{ key: string; path: string }> };
  projected?: { sources: Array<{ configMap?: { name: string; items?: Array<{ key: string; path: string }> } }> };
  emptyDir?: { sizeLimit?: string; medium?: string };
  persistentVolumeClaim?: { claimName: string };
}

export interface PodSpec {
  containers: Container[];
  volumes?: Volume[];
  securityContext?: SecurityContext & { fsGroup?: number };
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds?: number;
  topologySpreadConstraints?: unknown[];
  affinity?: { podAntiAffinity?: unknown };
}

export interface Workload extends K8sObject {
  spec: { replicas?: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
}

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

export function workloads(objects: readonly K8sObject[]): Workload[] {
  return objects.filter((o) => WORKLOAD_KINDS.has(o.kind)) as Workload[];
}

export function find(objects: readonly K8sObject[], kind: string, name: string): K8sObject | undefined {
  return objects.find((o) => o.kind === kind && o.metadata.name === name);
}

export function container(workload: Workload, name: string): Container {
  const found = workload.spec.template.spec.containers.find((c) => c.name === name);
  if (!found) throw new Error(`${workload.metadata.name}: no container "${name}"`);
  return found;
}

/** Resolves a named container port ("admin") to its number. */
export function portNumber(c: Container, port: number | string): number | undefined {
  if (typeof port === 'number') return port;
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

/**
 * The files a container sees from ConfigMap-backed volumes, as absolute path → content:
 * plain configMap volumes and projected configMap sources, with `items` honoured.
 */
export function mountedFiles(objects: readonly K8sObject[], workload: Workload, c: Container): Map<string, string> {
  const files = new Map<string, string>();
  const volumes = new Map((workload.spec.template.spec.volumes ?? []).map((v) => [v.name, v]));
  for (const mount of c.volumeMounts ?? []) {
    const volume = volumes.get(mount.name);
    if (!volume || mount.subPath) continue;
    const sources = volume.configMap ? [volume.configMap] : (volume.projected?.sources ?? []).flatMap((s) => (s.configMap ? [s.configMap] : []));
    for (const source of sources) {
      const data = (find(objects, 'ConfigMap', source.name) as { data?: Record<string, string> } | undefined)?.data ?? {};
      const entries = source.items ? source.items.map((item) => [item.path, data[item.key]] as const) : Object.entries(data);
      for (const [path, content] of entries) if (content !== undefined) files.set(posix.join(mount.mountPath, path), content);
    }
  }
  return files;
}

/** The volume mounted at exactly `path` in the container, if any. */
export function volumeAt(workload: Workload, c: Container, path: string): Volume | undefined {
  const mount = (c.volumeMounts ?? []).find((m) => posix.normalize(m.mountPath) === posix.normalize(path));
  return mount && (workload.spec.template.spec.volumes ?? []).find((v) => v.name === mount.name);
}

/** Kubernetes quantity → bytes (memory) or cores (cpu); enough for "64Mi", "1", "500m", "1G". */
export function quantity(value: string): number {
  const match = /^([0-9.]+)([a-zA-Z]*)$/.exec(String(value));
  if (!match) throw new Error(`not a quantity: ${value}`);
  const units: Record<string, number> = { '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };
  const unit = units[match[2]];
  if (unit === undefined) throw new Error(`unsupported quantity unit: ${value}`);
  return Number(match[1]) * unit;
}

/** The argument after `flag` in a container's args ("--config" FILE), if any. */
export function argAfter(args: readonly string[] | undefined, flag: string): string | undefined {
  const i = (args ?? []).indexOf(flag);
  return i >= 0 ? args![i + 1] : undefined;
}

/** Whether every label of a selector's matchLabels is on `labels`. */
export const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined): boolean =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/** "127.0.0.1:9191" → { host, port }. */
export function hostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
}

/** The authz-sidecar container of a rendered variant, its mounted files and its parsed config. */
export interface SidecarView {
  workload: Workload;
  sidecar: Container;
  configPath: string;
  files: Map<string, string>;
  config: Config;
}

/**
 * Reads the sidecar of the Deployment `deployment` (orders unless told): the container
 * `container` (authz-sidecar), the config file its `--config` names, mounted from a ConfigMap,
 * parsed by the sidecar's own schema. Asserts each step, naming what is missing.
 */
export function sidecarView(objects: readonly K8sObject[], options: { deployment?: string; container?: string } = {}): SidecarView {
  const name = options.deployment ?? 'orders';
  const workload = find(objects, 'Deployment', name) as Workload | undefined;
  assert.ok(workload, `a Deployment "${name}"`);
  const sidecar = container(workload, options.container ?? 'authz-sidecar');
  const configPath = argAfter(sidecar.args, '--config');
  assert.ok(configPath, `${sidecar.name} is started with --config FILE`);
  const files = mountedFiles(objects, workload, sidecar);
  const text = files.get(configPath);
  assert.ok(text !== undefined, `${configPath} is mounted into ${sidecar.name} from a ConfigMap (mounted: ${[...files.keys()].join(', ')})`);
  // Relative paths in the config resolve against the folder it is mounted in, as in the pod.
  return { workload, sidecar, configPath, files, config: parseConfig(text, configPath) };
}

/** Every file a sidecar config names (key set files, the policy and shadow policy files, the control-plane signers). */
export function filesNamedBy(config: Config): string[] {
  return [
    ...config.issuers.flatMap((i) => (i.keys?.file ? [i.keys.file] : [])),
    ...(config.serviceTokens?.keys.file ? [config.serviceTokens.keys.file] : []),
    ...protectedServices(config).flatMap(({ policy }) => [policy.file, policy.shadowFile].filter((file) => file !== undefined)),
    ...(config.nats?.signers ?? []),
  ];
}
