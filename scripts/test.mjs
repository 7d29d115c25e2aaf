#!/usr/bin/env node
/**
 * Runs the test tiers against the build in dist/: only `*.test.js` files (a helper module such
 * as dist/test/fuzz/binary.js is not a test; the testkit is in dist/testkit/), tier by tier, in
 * one `node --test` process per tier.
 *
 *   node scripts/test.mjs                    unit, integration, system (what npm test runs)
 *   node scripts/test.mjs unit               one tier; several may be named
 *
 * unit: no child process, no network, no wall-clock sleep. integration: real nats-server,
 * real binaries, real files and time. system: chaos with real clusters, namespaces, bench and
 * soak smokes.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const TIERS = ['unit', 'integration', 'system'];
const root = join(fileURLToPath(new URL('..', import.meta.url)), 'dist', 'test');
const asked = process.argv.slice(2);
for (const tier of asked) {
  if (!TIERS.includes(tier)) {
    console.error(`scripts/test.mjs: unknown tier "${tier}" (${TIERS.join(', ')})`);
    process.exit(2);
  }
}
const files = (asked.length > 0 ? asked : TIERS).flatMap((tier) =>
  readdirSync(join(root, tier))
    .filter((name) => name.endsWith('.test.js'))
    .sort()
    .map((name) => join(root, tier, name)),
);
// One node --test run for all of them, so its summary is the last thing printed.
const run = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files], { stdio: 'inherit' });
process.exit(run.status ?? 1);
