/**
 * What a report states about where it was measured: the machine, the tools, and which
 * sidecar source (src/ is under active change while benchmarks run). Shared by
 * `npm run bench` and `npm run soak`.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { h2loadVersion } from './h2load.js';
import type { Machine } from './report.js';

/** Which sidecar was measured: a hash of every file under src/ (path and content), and the newest one's time. */
export function sourceFingerprint(): string {
  const root = fileURLToPath(new URL('../../src/', import.meta.url));
  const files = (readdirSync(root, { recursive: true }) as string[]).filter((f) => statSync(join(root, f)).isFile()).sort();
  const hash = createHash('sha256');
  let newest = 0;
  for (const file of files) {
    hash.update(`${file}\0`).update(readFileSync(join(root, file)));
    newest = Math.max(newest, statSync(join(root, file)).mtimeMs);
  }
  return `src/ sha256 ${hash.digest('hex').slice(0, 16)} (${files.length} files, newest modified ${new Date(newest).toISOString()})`;
}

export async function machine(): Promise<Machine> {
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: cpus().length,
    memory: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    node: process.version,
    h2load: await h2loadVersion(),
    kernel: release(),
    source: sourceFingerprint(),
  };
}
