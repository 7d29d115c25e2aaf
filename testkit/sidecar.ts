import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, cpSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SIDECAR_NODE_FLAGS } from './launcher.js';
import { SIDECAR_BIN } from './paths.js';

export interface SidecarProcess {
  readonly child: ChildProcess;
  readonly grpcAddress: string;
  readonly adminUrl: string;
  /** The HTTP mode listener (`http://127.0.0.1:PORT`), when the config has an `http` section. */
  readonly httpUrl?: string;
  /** Every stdout log line so far, parsed. */
  readonly logs: Array<Record<string, unknown>>;
  readonly stderr: () => string;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  waitForLog(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
}

// A test that fails or is interrupted must not leave sidecars running.
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** A temp dir holding a copy of `fromDir` (if given) for a test's config, keys and policy. */
export function tempDir(fromDir?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'authz-test-'));
  if (fromDir) cpSync(fromDir, dir, { recursive: true });
  return dir;
}

/** Replaces a file the way Kubernetes does (write aside, then rename), so a poller never reads half of it. */
export function replaceFile(path: string, content: string | Uint8Array): void {
  writeFileSync(`${path}.tmp`, content);
  renameSync(`${path}.tmp`, path);
}

export function writeConfig(dir: string, yaml: string, name = 'config.yaml'): string {
  const path = join(dir, name);
  writeFileSync(path, yaml);
  return path;
}

/**
 * Starts the real sidecar binary, with the node flags of bin/authz-sidecar, on free
 * ports (addresses with port 0) and resolves once it logs that it is serving. Rejects with
 * its stderr if it exits first.
 */
export function startSidecar(configPath: string, options: { env?: NodeJS.ProcessEnv; args?: string[]; wrap?: string[] } = {}): Promise<SidecarProcess> {
  // `wrap` is a command that execs its arguments (e.g. `unshare -m sh -c '…; exec "$@"' sh`), so child.pid stays the sidecar's.
  const command = [...(options.wrap ?? []), process.execPath, ...SIDECAR_NODE_FLAGS, SIDECAR_BIN, '--config', configPath, ...(options.args ?? [])];
  const child = spawn(command[0], command.slice(1), {
    env: { ...process.env, AUTHZ_GRPC_ADDRESS: '127.0.0.1:0', AUTHZ_ADMIN_ADDRESS: '127.0.0.1:0', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const logs: Array<Record<string, unknown>> = [];
  const waiters: Array<{ predicate: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }> = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout }).on('line', (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text);
    } catch {
      line = { msg: text };
    }
    logs.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.predicate(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const waitForLog = (predicate: (line: Record<string, unknown>) => boolean, timeoutMs = 10_000) => {
    const seen = logs.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for log line; stderr: ${stderr}`)), timeoutMs);
      waiters.push({ predicate, resolve: (line) => (clearTimeout(timer), resolve(line)) });
    });
  };

  return new Promise((resolve, reject) => {
    void exited.then((code) => reject(new Error(`sidecar exited with ${code} before serving: ${stderr}`)));
    waitForLog((line) => line.msg === 'serving', 15_000).then((line) => {
      resolve({
        child,
        grpcAddress: `127.0.0.1:${line.grpc_port}`,
        adminUrl: `http://127.0.0.1:${line.admin_port}`,
        ...(line.http_port !== undefined && { httpUrl: `http://127.0.0.1:${line.http_port}` }),
        logs,
        stderr: () => stderr,
        waitForLog,
        stop: async (signal = 'SIGTERM') => {
          if (child.exitCode === null) child.kill(signal);
          return exited;
        },
      });
    }, reject);
  });
}

/** What one run of the binary that ended on its own (a start-up failure, --check-config) left. */
export interface SidecarRun {
  /** The exit code; null when it did not exit within the time allowed and was killed. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** From spawn to exit. */
  readonly elapsedMs: number;
}

/**
 * Runs the real binary with `args` to its exit, with the node flags of bin/authz-sidecar,
 * from `cwd`. The environment is this process's without AUTHZ_CONFIG, AUTHZ_GRPC_ADDRESS and
 * AUTHZ_ADMIN_ADDRESS (and AUTHZ_HTTP_ADDRESS), plus `env`: the test decides where the addresses come from. Killed
 * after `timeoutMs` (code null).
 */
export function runSidecar(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<SidecarRun> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['AUTHZ_CONFIG', 'AUTHZ_GRPC_ADDRESS', 'AUTHZ_ADMIN_ADDRESS', 'AUTHZ_HTTP_ADDRESS']) delete env[name];
  const started = performance.now();
  const child = spawn(process.execPath, [...SIDECAR_NODE_FLAGS, SIDECAR_BIN, ...args], {
    cwd: options.cwd,
    env: { ...env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
  return new Promise((resolve) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stdout, stderr, elapsedMs: performance.now() - started });
    });
  });
}
