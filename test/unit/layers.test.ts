import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../../testkit/paths.js';

// A negative control for `npm run lint:layers`: the project's own .dependency-cruiser.cjs run,
// as the script runs it, on a tiny src/ and testkit/ tree written here. The clean tree must
// pass, so every violation in the other one comes from an import added to it, and each of
// those must be reported by the rule meant for it: nothing missed, nothing extra.

const run = promisify(execFile);

/** The folders `npm run lint:layers` cruises, read from package.json (`depcruise <folders> --config …`). */
const CRUISED: readonly string[] = (() => {
  const { scripts } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const folders = /^depcruise ((?:[\w-]+ )+)--config /.exec(scripts['lint:layers'] ?? '');
  if (!folders) throw new Error(`unexpected lint:layers script: ${scripts['lint:layers']}`);
  return folders[1].trim().split(' ');
})();

/** Allowed imports: downwards through an index, type-only, inside a folder, generated types, the entries. */
const CLEAN: Record<string, string> = {
  'src/shared/index.ts': `export const base = 1;\n`,
  'src/generated/message.ts': `export interface Message { id: string }\n`,
  'src/config/index.ts': `import { base } from '../shared/index.js';\nexport const config = base;\n`,
  'src/keys/index.ts': `export { key } from './key.js';\n`,
  'src/keys/key.ts': `import { config } from '../config/index.js';\nexport const key = config;\n`,
  'src/request/index.ts': `import type { Message } from '../generated/message.js';\nexport const view = (m: Message) => m.id;\n`,
  'src/tokens/index.ts': `export { token } from './token.js';\n`,
  'src/tokens/token.ts': `import { key } from '../keys/index.js';\nimport type { view } from '../request/index.js';\nexport const token: typeof view | number = key;\n`,
  'src/telemetry/index.ts': `import type { token } from '../tokens/index.js';\nexport const metrics: typeof token = 0;\n`,
  'src/grpc/index.ts': `export const check = 1;\n`,
  'src/grpc/transport.ts': `import { Server } from '@grpc/grpc-js';\nexport const serve = () => new Server();\n`,
  'src/control/index.ts': `export const documents = 1;\n`,
  'src/control/start.ts': `import { connect } from 'nats';\nexport type Run = { stop(): void };\nexport const startControl = connect;\n`,
  'src/main.ts': [
    `import { token } from './tokens/index.js';`,
    `import { metrics } from './telemetry/index.js';`,
    `import { serve } from './grpc/transport.js';`,
    `import type { Run } from './control/start.js';`,
    `export async function main(): Promise<Run | number> {`,
    `  serve();`,
    `  if (token === metrics) return (await import('./control/start.js')).startControl() as unknown as Run;`,
    `  return 0;`,
    `}`,
    ``,
  ].join('\n'),
  // The testkit uses src/ through an index and an entry, as another folder would.
  'testkit/kit.ts': `import { config } from '../src/config/index.js';\nimport type { Run } from '../src/control/start.js';\nexport const kit: Run | typeof config = config;\n`,
};

/** Each forbidden import, added to CLEAN, and the violation it must cause. */
const FORBIDDEN: ReadonlyArray<{ what: string; files: Record<string, string>; rule: string; from: string; to: RegExp }> = [
  {
    what: 'an upward import (tokens -> telemetry)',
    files: { 'src/tokens/upward.ts': `import { metrics } from '../telemetry/index.js';\nexport const up = metrics;\n` },
    rule: 'layer-tokens',
    from: 'src/tokens/upward.ts',
    to: /^src\/telemetry\/index\.ts$/,
  },
  {
    what: 'an upward type-only import',
    files: { 'src/keys/upward-type.ts': `import type { token } from '../tokens/index.js';\nexport type Up = typeof token;\n` },
    rule: 'layer-keys',
    from: 'src/keys/upward-type.ts',
    to: /^src\/tokens\/index\.ts$/,
  },
  {
    what: 'a sideways import (keys -> request, one layer)',
    files: { 'src/keys/sideways.ts': `import { view } from '../request/index.js';\nexport const side = view;\n` },
    rule: 'layer-keys',
    from: 'src/keys/sideways.ts',
    to: /^src\/request\/index\.ts$/,
  },
  {
    what: 'a deep cross-folder import (past keys/index.ts)',
    files: { 'src/tokens/deep.ts': `import { key } from '../keys/key.js';\nexport const deep = key;\n` },
    rule: 'through-index',
    from: 'src/tokens/deep.ts',
    to: /^src\/keys\/key\.ts$/,
  },
  {
    what: 'a cycle, type-only on one side',
    files: {
      'src/keys/cycle-a.ts': `import type { b } from './cycle-b.js';\nexport const a: typeof b = 1;\n`,
      'src/keys/cycle-b.ts': `import { a } from './cycle-a.js';\nexport const b = a;\n`,
    },
    rule: 'no-circular',
    from: 'src/keys/cycle-a.ts',
    to: /^src\/keys\/cycle-b\.ts$/,
  },
  {
    what: 'an index that loads a heavy package',
    files: { 'src/grpc/index.ts': `export { serve } from './transport.js';\nexport const check = 1;\n` },
    rule: 'cheap-index',
    from: 'src/grpc/index.ts',
    to: /node_modules\/@grpc\/grpc-js\//,
  },
  {
    what: 'a static import of the lazy NATS entry by main.ts',
    files: { 'src/main.ts': `${CLEAN['src/main.ts']}import { startControl } from './control/start.js';\nexport const eager = startControl;\n` },
    rule: 'lazy-entry',
    from: 'src/main.ts',
    to: /^src\/control\/start\.ts$/,
  },
  {
    what: 'an import from src into testkit',
    files: { 'src/keys/kit-user.ts': `import { kit } from '../../testkit/kit.js';\nexport const fromKit = kit;\n` },
    rule: 'no-testkit-in-src',
    from: 'src/keys/kit-user.ts',
    to: /^testkit\/kit\.ts$/,
  },
  {
    what: 'a deep import from testkit into a folder of src (past keys/index.ts)',
    files: { 'testkit/deep.ts': `import { key } from '../src/keys/key.js';\nexport const deep = key;\n` },
    rule: 'testkit-through-index',
    from: 'testkit/deep.ts',
    to: /^src\/keys\/key\.ts$/,
  },
  {
    what: 'an import from testkit into the tests that use it',
    files: {
      'testkit/uses-test.ts': `import { used } from '../test/unit/kit.test.js';\nexport const back = used;\n`,
      'test/unit/kit.test.ts': `export const used = 1;\n`,
    },
    rule: 'testkit-standalone',
    from: 'testkit/uses-test.ts',
    to: /^test\/unit\/kit\.test\.ts$/,
  },
  {
    what: 'a folder missing from the layer table',
    files: { 'src/extra/index.ts': `import { base } from '../shared/index.js';\nexport const extra = base;\n` },
    rule: 'layer-unlisted',
    from: 'src/extra/index.ts',
    to: /^src\/shared\/index\.ts$/,
  },
];

interface Violation {
  readonly from: string;
  readonly to: string;
  readonly rule: { readonly name: string };
}

const dirs: string[] = [];
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/**
 * Writes a tree and runs the rule set on it as `npm run lint:layers` does, with the JSON report
 * instead of the `err` one: the violations, and the count of errors (the `err` report's exit
 * code, what fails `npm test`).
 */
async function cruise(files: Record<string, string>): Promise<{ violations: Violation[]; errors: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'layers-'));
  dirs.push(dir);
  // The packages resolve, so a rule on node_modules/<name>/ can match.
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true }, include: ['src', 'testkit', 'test'] }),
  );
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const cli = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
  const args = [cli, ...CRUISED, '--config', join(ROOT, '.dependency-cruiser.cjs'), '--output-type', 'json'];
  const { stdout } = await run(process.execPath, args, { cwd: dir, maxBuffer: 16 * 1024 * 1024 });
  const result = JSON.parse(stdout) as { summary: { violations: Violation[]; error: number; totalCruised: number } };
  assert.ok(result.summary.totalCruised >= Object.keys(files).length, 'the fixture was cruised');
  return { violations: result.summary.violations, errors: result.summary.error };
}

const show = (violations: readonly Violation[]) => violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`).join('\n');

describe('.dependency-cruiser.cjs', () => {
  it('passes a tree that keeps the layers', async () => {
    const { violations, errors } = await cruise(CLEAN);
    assert.deepEqual(violations, [], show(violations));
    assert.equal(errors, 0);
  });

  it('reports each forbidden import with its rule, and nothing else', async () => {
    const { violations, errors } = await cruise(Object.assign({}, CLEAN, ...FORBIDDEN.map((f) => f.files)));
    assert.equal(errors, violations.length, 'every violation is an error');
    for (const f of FORBIDDEN) {
      const found = violations.some((v) => v.rule.name === f.rule && v.from === f.from && f.to.test(v.to));
      assert.ok(found, `${f.what}: no ${f.rule} violation from ${f.from}; got:\n${show(violations)}`);
    }
    const extra = violations.filter((v) => !FORBIDDEN.some((f) => v.from in f.files || Object.keys(f.files).some((path) => v.to === path)));
    assert.deepEqual(extra, [], `violations not caused by a forbidden import:\n${show(extra)}`);
  });
});
