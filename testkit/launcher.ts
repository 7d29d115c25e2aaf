import { readFileSync } from 'node:fs';
import { ROOT } from './paths.js';

/** bin/authz-sidecar: the one place the sidecar's node flags are written (the image, npm start and the demo run it). */
export const LAUNCHER = `${ROOT}bin/authz-sidecar`;

export interface LauncherInvocation {
  /** node's options, in order. */
  readonly flags: string[];
  /** The script node runs, relative to the repository root. */
  readonly script: string;
}

/** The `exec node [flags…] "$here/../SCRIPT" "$@"` line of the launcher's text. */
export function launcherInvocation(text: string): LauncherInvocation {
  const line = text.split('\n').find((l) => /^exec node\s/.test(l));
  if (line === undefined) throw new Error('bin/authz-sidecar: no "exec node …" line');
  const words = line.trim().split(/\s+/).slice(2);
  const at = words.findIndex((w) => !w.startsWith('-'));
  const script = /^"\$here\/\.\.\/([^"]+)"$/.exec(words[at] ?? '');
  if (script === null || words[at + 1] !== '"$@"' || words.length !== at + 2) {
    throw new Error(`bin/authz-sidecar: expected exec node [flags] "$here/../SCRIPT" "$@", got: ${line}`);
  }
  return { flags: words.slice(0, at), script: script[1] };
}

/** The node flags the sidecar runs with, read from the launcher; tests and benchmarks start it with these. */
export const SIDECAR_NODE_FLAGS: readonly string[] = launcherInvocation(readFileSync(LAUNCHER, 'utf8')).flags;
