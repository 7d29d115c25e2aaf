#!/usr/bin/env node
// Regenerates src/generated/ from proto/ (never edit the output by hand).
// proto-loader-gen-types writes extensionless relative imports; Node's ESM resolution
// (module: NodeNext) needs explicit `.js`, so they are rewritten after generation.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const out = 'src/generated';
rmSync(out, { recursive: true, force: true });
execFileSync(
  'node_modules/.bin/proto-loader-gen-types',
  [
    '--keepCase',
    '--longs=String',
    '--enums=String',
    '--oneofs',
    '--grpcLib=@grpc/grpc-js',
    '--includeDirs=proto',
    `--outDir=${out}`,
    'envoy/service/auth/v3/external_auth.proto',
    'grpc/health/v1/health.proto',
  ],
  { stdio: 'inherit' },
);

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (path.endsWith('.ts')) {
      const text = readFileSync(path, 'utf8').replace(/from '(\.{1,2}\/[^']+?)(?<!\.js)'/g, "from '$1.js'");
      writeFileSync(path, text);
    }
  }
}
walk(out);
