/**
 * The demo's child processes: nats-server, the sidecar binary and authzctl. Every
 * long-running child is registered so that `stopAll` (and, as a last resort, the process's
 * 'exit' handler) ends it. Children run in their own process group, so a Ctrl-C in the
 * terminal reaches only the demo, which then stops them in order and checks they exit 0.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SIDECAR_BIN = `${ROOT}dist/authz-sidecar.mjs`;
export const AUTHZCTL_BIN = `${ROOT}dist/src/cli/authzctl.js`;
/** The sidecar's launcher: node with the flags the image runs it with, on SIDECAR_BIN. */
export const SIDECAR_LAUNCHER = `${ROOT}bin/authz-sidecar`;
export const NATS_SERVER_BIN = process.env.NATS_SERVER || 'nats-server';

/** Long-running children, in start order: { name, child, exited: Promise<{ code, signal }> }. */
const running = [];
/** authzctl runs still in flight (each is awaited, this only matters on an interrupt). */
const inFlight = new Set();

function register(name, child) {
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    // A binary that cannot be spawned emits 'error' and never 'exit'.
    child.once('error', () => child.pid === undefined && resolve({ code: null, signal: null }));
  });
  const entry = { name, child, exited };
  running.push(entry);
  return entry;
}

/** A child that failed to start: killed now, awaited by stopAll, not reported as a stop. */
function discard(entry) {
  entry.discarded = true;
  entry.child.kill('SIGKILL');
}

/** Every long-running child that was spawned (pids stay valid for reporting after exit). */
export function startedProcesses() {
  return running.filter(({ child }) => child.pid !== undefined).map(({ name, child }) => ({ name, pid: child.pid }));
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function timeout(ms, what) {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms).unref());
}

/** Lines of a stream, kept (the last `keep`) for error reports and handed to `onLine`. */
function collectLines(stream, keep, onLine = () => {}) {
  const lines = [];
  createInterface({ input: stream }).on('line', (line) => {
    lines.push(line);
    if (lines.length > keep) lines.shift();
    onLine(line);
  });
  return lines;
}

/** `nats-server -js` on a free port; resolves once it logs "Server is ready". Retries a taken port. */
export async function startNatsServer(storeDir) {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const args = ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir];
    const child = spawn(NATS_SERVER_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    const entry = register('nats-server', child);
    let ready;
    const isReady = new Promise((resolve) => (ready = resolve));
    const log = collectLines(child.stderr, 40, (line) => /Server is ready/.test(line) && ready());
    const spawnError = new Promise((_, reject) =>
      child.once('error', (error) =>
        reject(new Error(`cannot run ${NATS_SERVER_BIN}: ${error.message} (install it: apt-get install -y nats-server, or set NATS_SERVER)`)),
      ),
    );
    const early = entry.exited.then(({ code, signal }) => {
      throw new Error(`nats-server exited (${code ?? signal}) before it was ready:\n${log.join('\n')}`);
    });
    try {
      await Promise.race([isReady, spawnError, early, timeout(10_000, 'nats-server not ready')]);
      return { url: `nats://127.0.0.1:${port}`, port, args, pid: child.pid, log };
    } catch (error) {
      discard(entry);
      if (attempt >= 3 || !log.some((l) => /address already in use/i.test(l))) throw error;
    }
  }
}

/**
 * The sidecar binary on free ports (AUTHZ_*_ADDRESS 127.0.0.1:0); resolves with the ports
 * from its JSON "serving" log line.
 */
export async function startSidecar(name, configPath) {
  const child = spawn(SIDECAR_LAUNCHER, ['--config', configPath], {
    cwd: ROOT,
    // The launcher runs the `node` on PATH: make it this one.
    env: {
      ...process.env,
      PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
      AUTHZ_GRPC_ADDRESS: '127.0.0.1:0',
      AUTHZ_ADMIN_ADDRESS: '127.0.0.1:0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const entry = register(name, child);
  const stderr = collectLines(child.stderr, 20);
  let serving;
  const isServing = new Promise((resolve) => (serving = resolve));
  const logs = collectLines(child.stdout, 200, (line) => {
    try {
      const parsed = JSON.parse(line);
      if (parsed.msg === 'serving') serving(parsed);
    } catch {
      // Not JSON: kept for the error report only.
    }
  });
  const early = entry.exited.then(({ code, signal }) => {
    throw new Error(`${name} sidecar exited (${code ?? signal}) before serving: ${stderr.join('\n')}`);
  });
  try {
    const line = await Promise.race([isServing, early, timeout(15_000, `${name} sidecar not serving`)]);
    return {
      name,
      pid: child.pid,
      grpcAddress: `127.0.0.1:${line.grpc_port}`,
      adminUrl: `http://127.0.0.1:${line.admin_port}`,
      logs,
      stderr,
    };
  } catch (error) {
    discard(entry);
    throw error;
  }
}

/** Runs the built authzctl from the repository root; resolves { code, stdout, stderr }, never rejects. */
export function authzctl(args, env = {}) {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [AUTHZCTL_BIN, ...args],
      { cwd: ROOT, timeout: 15_000, env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        inFlight.delete(child);
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout: stdout.trimEnd(), stderr: stderr.trimEnd() });
      },
    );
    inFlight.add(child);
  });
}

/**
 * Stops every child, sidecars before the NATS server they follow: SIGTERM for a sidecar (it
 * drains and exits 0), SIGINT for nats-server (its clean stop: SIGTERM exits 1), then SIGKILL
 * after `graceMs`. Resolves one { name, pid, sent, code, signal, forced } per child.
 */
export async function stopAll(graceMs = 8_000) {
  for (const child of inFlight) child.kill('SIGKILL');
  const results = [];
  const live = running.filter((e) => !e.discarded && e.child.pid !== undefined);
  const sidecars = live.filter((e) => e.name !== 'nats-server');
  const servers = live.filter((e) => e.name === 'nats-server');
  for (const group of [sidecars, servers]) results.push(...(await Promise.all(group.map((entry) => stopOne(entry, graceMs)))));
  await Promise.all(running.filter((e) => e.discarded).map((e) => e.exited));
  return results;
}

async function stopOne({ name, child, exited }, graceMs) {
  const sent = name === 'nats-server' ? 'SIGINT' : 'SIGTERM';
  let forced = false;
  if (child.exitCode === null && child.signalCode === null) {
    child.kill(sent);
    const timer = setTimeout(() => {
      forced = true;
      child.kill('SIGKILL');
    }, graceMs);
    await exited;
    clearTimeout(timer);
  }
  const { code, signal } = await exited;
  return { name, pid: child.pid, sent, code, signal, forced };
}

/** Last resort on exit (sync): nothing the demo started may outlive it. */
export function killAllNow() {
  for (const child of inFlight) child.kill('SIGKILL');
  for (const { child } of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

export function builtBinariesPresent() {
  return existsSync(SIDECAR_BIN) && existsSync(AUTHZCTL_BIN);
}
