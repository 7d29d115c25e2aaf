#!/usr/bin/env node
// Builds (npm run build) unless dist/ already holds a build newer than every input of the
// sidecar and authzctl: src/, the bundler, tsconfig.json and package-lock.json. Run by
// `npm ci` (prepare) and `npm start`, so a second start does not wait for a rebuild.
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const OUTPUTS = ['dist/authz-sidecar.mjs', 'dist/src/cli/authzctl.js'];
const INPUTS = ['src', 'scripts/bundle.mjs', 'tsconfig.json', 'package.json', 'package-lock.json'];

/** Newest modification time under `path` (a file or a folder), in ms; 0 when missing. */
function newest(path) {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce((max, name) => Math.max(max, newest(join(path, name))), stat.mtimeMs);
}

const built = Math.min(...OUTPUTS.map((p) => newest(join(root, p)) || -1));
const changed = Math.max(...INPUTS.map((p) => newest(join(root, p))));
if (built < changed) {
  process.stderr.write(built < 0 ? 'building dist/ …\n' : 'src/ changed since the last build: rebuilding dist/ …\n');
  execFileSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' });
}
