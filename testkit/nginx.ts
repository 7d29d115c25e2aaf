/**
 * A real nginx for tests, running the shipped deploy/nginx/nginx.conf rendered onto loopback
 * ports, with its pid, logs and temp files in a temp directory (`-p`, `-e`, `daemon off`):
 * nothing under /run, /var/log or /var/lib is touched, and no root-owned path is needed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, constants, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { freePort } from './nats-server.js';
import { ROOT } from './paths.js';
import { tempDir } from './sidecar.js';
import { sleep } from './wait.js';

export const NGINX_CONF = `${ROOT}deploy/nginx/nginx.conf`;

/** nginx on PATH, else Debian's /usr/sbin/nginx (not on a non-root PATH); null when neither exists. */
export function nginxBinary(): string | null {
  const candidates = [
    ...(process.env.PATH ?? '')
      .split(delimiter)
      .filter(Boolean)
      .map((dir) => join(dir, 'nginx')),
    '/usr/sbin/nginx',
  ];
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // next
    }
  }
  return null;
}

export interface NginxPorts {
  /** Where nginx listens (the shipped `listen 8080`). */
  readonly port: number;
  /** The sidecar's http port (the shipped 127.0.0.1:9193). */
  readonly sidecarPort: number;
  /** The app's port (the shipped 127.0.0.1:8081). */
  readonly appPort: number;
}

/**
 * The shipped config with test ports and paths in `dir`: each replaced line must be found, so
 * a change to the shipped file that the tests would no longer exercise fails here.
 */
export function renderNginxConfig(text: string, dir: string, ports: NginxPorts): string {
  const replacements: Array<[string, string]> = [
    ['listen 8080;', `listen 127.0.0.1:${ports.port};`],
    ['server 127.0.0.1:9193;', `server 127.0.0.1:${ports.sidecarPort};`],
    ['server 127.0.0.1:8081;', `server 127.0.0.1:${ports.appPort};`],
    ['pid /run/nginx.pid;', `pid ${dir}/nginx.pid;`],
    ['error_log /var/log/nginx/error.log warn;', `error_log ${dir}/error.log warn;`],
    ['access_log /var/log/nginx/access.log authz;', `access_log ${dir}/access.log authz;`],
    [
      'http {',
      `http {\n    client_body_temp_path ${dir}/body;\n    proxy_temp_path ${dir}/proxy;\n    fastcgi_temp_path ${dir}/fastcgi;\n    uwsgi_temp_path ${dir}/uwsgi;\n    scgi_temp_path ${dir}/scgi;`,
    ],
  ];
  let out = text;
  for (const [from, to] of replacements) {
    if (!out.includes(from)) throw new Error(`deploy/nginx/nginx.conf: expected "${from}"`);
    out = out.replace(from, to);
  }
  return out;
}

export interface NginxProcess {
  readonly url: string;
  readonly dir: string;
  readonly child: ChildProcess;
  /** nginx's error log so far (for failure messages). */
  errorLog(): string;
  /** The access log so far. */
  accessLog(): string;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** Starts nginx on the rendered shipped config; resolves once it accepts connections. */
export async function startNginx(binary: string, ports: Omit<NginxPorts, 'port'> & { port?: number }): Promise<NginxProcess> {
  const dir = tempDir();
  // Workers run as nobody when the master is root: they must reach the temp dirs inside.
  chmodSync(dir, 0o755);
  const port = ports.port ?? (await freePort());
  writeFileSync(join(dir, 'nginx.conf'), renderNginxConfig(readFileSync(NGINX_CONF, 'utf8'), dir, { ...ports, port }));
  const child = spawn(binary, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'), '-g', 'daemon off;'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      children.delete(child);
      resolve();
    }),
  );
  const read = (name: string) => {
    try {
      return readFileSync(join(dir, name), 'utf8');
    } catch {
      return '';
    }
  };
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nginx did not start: ${stderr}${read('error.log')}`);
    }
    await sleep(20);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    dir,
    child,
    errorLog: () => read('error.log'),
    accessLog: () => read('access.log'),
    stop: async () => {
      // SIGQUIT: graceful shutdown; SIGKILL if it lingers.
      if (child.exitCode === null) child.kill('SIGQUIT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
