import { execFile } from 'node:child_process';
import { AUTHZCTL_BIN, ROOT } from './paths.js';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built authzctl from the repository root, as the README's commands do. */
export function authzctl(...args: string[]): Promise<Run> {
  return authzctlWith({}, ...args);
}

/** Same, with extra environment (AUTHZ_NATS_URL, AUTHZ_SIGNING_KEY…). */
export function authzctlWith(env: NodeJS.ProcessEnv, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [AUTHZCTL_BIN, ...args], { cwd: ROOT, timeout: 30_000, env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}
