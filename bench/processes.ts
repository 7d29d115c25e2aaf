/**
 * The processes under test: the comparison servers (bench/servers/*) and sidecars started
 * from the built binary. Sidecars get ports chosen up front and write their log to a file
 * (as in a container), so reading it never costs the harness CPU during a run. Every child
 * is killed if the harness exits early.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseYaml } from 'yaml';
import { ROOT, SIDECAR_BIN } from '../testkit/paths.js';
import { freePort } from '../testkit/nats-server.js';
import { SIDECAR_NODE_FLAGS } from '../testkit/launcher.js';
import { writeSidecarDir } from '../testkit/sidecar-dir.js';

export type ServerKind = 'floor' | 'limit' | 'floor-verify' | 'same-bytes' | 'http-floor';

export interface Target {
  /** Label in the report: floor, limit, sidecar-50… */
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  /** The sidecar's admin URL; null for comparison servers. */
  readonly adminUrl: string | null;
  /** A sidecar's HTTP mode listener, when started with `http`. */
  readonly httpPort?: number;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

function track(child: ChildProcess): Promise<number | null> {
  children.add(child);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Starts dist/bench/servers/<kind>.js (with `args`) and resolves once it announces its port; `name` labels it in the report. */
export function startServer(kind: ServerKind, args: readonly string[] = [], name: string = kind): Promise<Target> {
  const script = fileURLToPath(new URL(`./servers/${kind}.js`, import.meta.url));
  const child = spawn(process.execPath, [...nodeArgs(), script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = track(child);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    void exited.then((code) => reject(new Error(`${kind} server exited (${code}) before listening: ${stderr}`)));
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      lines.close();
      const { listening } = JSON.parse(line) as { listening: number };
      resolve({ name, pid: child.pid!, port: listening, adminUrl: null, stop: () => stopChild(child, exited) });
    });
  });
}

export interface SidecarOptions {
  /** Policy text (YAML or JSON) for the local policy file. */
  readonly policy: string;
  readonly tokenCacheEntries?: number;
  /** A shadow policy (policy.shadowFile). */
  readonly shadowPolicy?: string;
  /** Gateway mode: each service's policy, chosen by context_extensions.service (`policy` is then unused). */
  readonly gatewayPolicies?: Readonly<Record<string, string>>;
  /** HTTP mode on (an `http` section; its port chosen up front like the others). */
  readonly http?: boolean;
}

/** A sidecar directory like deploy/examples: the example keys, a config like the example one and `policy`. */
export function sidecarDir(options: SidecarOptions): string {
  return writeSidecarDir({
    dir: mkdtempSync(join(tmpdir(), 'authz-bench-')),
    policy: options.policy,
    shadowPolicy: options.shadowPolicy,
    gatewayPolicies: options.gatewayPolicies,
    tokenCacheEntries: options.tokenCacheEntries ?? 10_000,
    ...(options.http && { http: {} }),
    extra: 'shutdown: { drainSeconds: 1 }\n',
  }).dir;
}

export interface SidecarTarget extends Target {
  /** ms from spawn to the first /readyz 200. */
  readonly readyMs: number;
}

/**
 * The sidecar runs with the V8 options it ships with: the NODE_OPTIONS of the authz-sidecar
 * container in k8s/base/deployment.yaml (the heap cap, which decides its memory figures) and
 * the node flags of bin/authz-sidecar, which the image's ENTRYPOINT runs (the fixed new space,
 * which decides its rate).
 */
export const SHIPPED_NODE_OPTIONS: string = (() => {
  const doc = parseYaml(readFileSync(`${ROOT}k8s/base/deployment.yaml`, 'utf8')) as {
    spec: { template: { spec: { containers: Array<{ name: string; env?: Array<{ name: string; value?: string }> }> } } };
  };
  const sidecar = doc.spec.template.spec.containers.find((c) => c.name === 'authz-sidecar');
  return sidecar?.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
})();

/** node's options in bin/authz-sidecar, which the image's ENTRYPOINT runs. */
export const SHIPPED_NODE_FLAGS: readonly string[] = SIDECAR_NODE_FLAGS;

/** Extra node flags for every server started (BENCH_NODE_ARGS, space-separated), e.g. `--cpu-prof` to profile. */
export function nodeArgs(): string[] {
  return (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
}

/**
 * The sidecar binary on `configPath` with ports chosen up front and its log in a file next
 * to the config; resolves once /readyz answers 200 (polled every `pollMs`).
 */
export async function startSidecarProcess(name: string, configPath: string, pollMs = 20, http = false): Promise<SidecarTarget> {
  const [grpcPort, adminPort] = [await freePort(), await freePort()];
  const httpPort = http ? await freePort() : undefined;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const logFd = openSync(`${configPath}.${grpcPort}.log`, 'a');
  const spawned = performance.now();
  const child = spawn(process.execPath, [...SHIPPED_NODE_FLAGS, ...nodeArgs(), SIDECAR_BIN, '--config', configPath], {
    env: {
      ...process.env,
      NODE_OPTIONS: SHIPPED_NODE_OPTIONS,
      AUTHZ_GRPC_ADDRESS: `127.0.0.1:${grpcPort}`,
      AUTHZ_ADMIN_ADDRESS: `127.0.0.1:${adminPort}`,
      ...(httpPort !== undefined && { AUTHZ_HTTP_ADDRESS: `127.0.0.1:${httpPort}` }),
    },
    stdio: ['ignore', logFd, 'pipe'],
  });
  closeSync(logFd);
  const exited = track(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const stop = () => stopChild(child, exited);
  while (performance.now() - spawned < 20_000) {
    if (child.exitCode !== null) throw new Error(`sidecar ${name} exited (${child.exitCode}): ${stderr}`);
    if (await isReady(adminUrl)) return { name, pid: child.pid!, port: grpcPort, adminUrl, httpPort, stop, readyMs: performance.now() - spawned };
    await sleep(pollMs);
  }
  await stop();
  throw new Error(`sidecar ${name} not ready within 20 s: ${stderr}`);
}

/** A sidecar in a fresh sidecarDir, removed (log included) when it stops. */
export async function startSidecar(name: string, options: SidecarOptions): Promise<SidecarTarget> {
  const dir = sidecarDir(options);
  try {
    const sidecar = await startSidecarProcess(name, join(dir, 'config.yaml'), 20, options.http ?? false);
    return { ...sidecar, stop: () => sidecar.stop().finally(() => rmSync(dir, { recursive: true, force: true })) };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

export async function isReady(adminUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${adminUrl}/readyz`);
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}

/** One Prometheus sample: name, labels, value. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export async function readMetrics(adminUrl: string): Promise<Sample[]> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key] = value;
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** Sum of the samples of `name` whose labels include `labels`. */
export function metricValue(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);
}

/** Resident set size of a process, from /proc (bytes). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!kb) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb[1]) * 1024;
}
