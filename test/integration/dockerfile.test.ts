/**
 * The image, read from the Dockerfile text (no Docker engine runs in CI): two stages, a
 * runtime stage with production dependencies only, a numeric non-root user, the entrypoint
 * and the files the server loads at run time. The proof that production dependencies are
 * enough is the scan of the compiled server (dist/src): every package it imports must be in
 * package.json "dependencies".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, posix, relative, resolve } from 'node:path';
import ts from 'typescript';
import { ROOT } from '../../testkit/paths.js';
import { LAUNCHER, launcherInvocation, SIDECAR_NODE_FLAGS } from '../../testkit/launcher.js';
import { copyArgs, dockerIgnored, dockerignorePatterns, envOf, execForm, parseDockerfile, workdirAt, type Stage } from '../../testkit/k8s-dockerfile.js';

const DOCKERFILE = readFileSync(`${ROOT}Dockerfile`, 'utf8');
const stages = parseDockerfile(DOCKERFILE);
const runtime = stages.at(-1)!;
const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

const of = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);
const copies = (stage: Stage) => [...of(stage, 'COPY'), ...of(stage, 'ADD')].map(copyArgs);
const absolute = (stage: Stage, index: number, path: string) => posix.resolve(workdirAt(stage, index), path);
/** Index of the stage's last `keyword` instruction (-1 when none). */
const lastIndex = (stage: Stage, keyword: string) => stage.instructions.map((i) => i.keyword).lastIndexOf(keyword);

/** Where the runtime stage's ENTRYPOINT runs the launcher, bin/authz-sidecar (checked), and the script the launcher has node run. */
function serverScript(): string {
  const index = lastIndex(runtime, 'ENTRYPOINT');
  const entrypoint = execForm(runtime.instructions[index]);
  assert.ok(entrypoint, 'ENTRYPOINT must use the exec (JSON) form, so signals reach the process tree without a shell in between');
  const launcher = entrypoint.find((word) => word.endsWith('bin/authz-sidecar'));
  assert.ok(launcher, `ENTRYPOINT runs bin/authz-sidecar: ${JSON.stringify(entrypoint)}`);
  const copy = copies(runtime).find((c) => c.from === undefined && c.sources.includes('bin'));
  assert.ok(copy, 'the runtime stage copies bin/');
  const binAt = absolute(
    runtime,
    runtime.instructions.findIndex((i) => i.keyword === 'COPY' && copyArgs(i).sources.includes('bin')),
    copy.destination,
  );
  assert.equal(absolute(runtime, index, launcher), posix.join(binAt, 'authz-sidecar'), 'ENTRYPOINT names the copied launcher');
  // The launcher's script is relative to bin/.., i.e. where bin/ was copied to.
  return posix.resolve(binAt, '..', launcherInvocation(readFileSync(LAUNCHER, 'utf8')).script);
}

test('the Dockerfile has a build stage and a runtime stage, both on node:20-bookworm-slim', () => {
  assert.ok(stages.length >= 2, `expected a multi-stage build, found ${stages.length} FROM`);
  for (const stage of stages) assert.equal(stage.image, 'node:20-bookworm-slim', `FROM ${stage.image}`);
  const build = stages.find((s) => s.name === copies(runtime).find((c) => c.from)?.from);
  assert.ok(build, 'the runtime stage copies its build output from a named earlier stage');
  const runs = of(build, 'RUN').map((r) => r.args);
  assert.ok(
    runs.some((r) => /\bnpm ci\b/.test(r) && !/--omit=dev|--production/.test(r)),
    'the build stage installs dev dependencies (npm ci) to compile',
  );
  assert.ok(
    runs.some((r) => /\bnpm run build\b/.test(r)),
    'the build stage runs npm run build',
  );
});

test('the runtime stage installs production dependencies only and never copies node_modules', () => {
  const runs = of(runtime, 'RUN').map((r) => r.args);
  const installs = runs.filter((r) => /\bnpm (ci|install|i)\b/.test(r));
  assert.equal(installs.length, 1, `one install step in the runtime stage: ${JSON.stringify(installs)}`);
  assert.match(installs[0], /\bnpm ci\b/, 'npm ci: exactly the lock file');
  assert.match(installs[0], /--omit=dev\b|--production\b/, 'production dependencies only');
  // The lock file must be in place before npm ci runs.
  const install = runtime.instructions.findIndex((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
  const copiedBefore = runtime.instructions
    .slice(0, install)
    .filter((i) => i.keyword === 'COPY')
    .flatMap((i) => copyArgs(i).sources);
  for (const file of ['package.json', 'package-lock.json'])
    assert.ok(
      copiedBefore.some((s) => s === file || s === 'package*.json'),
      `${file} is copied before npm ci`,
    );
  for (const copy of copies(runtime)) {
    for (const source of copy.sources) assert.doesNotMatch(source, /node_modules/, `line ${copy.line}: copies node_modules (${source})`);
    if (copy.from !== undefined)
      for (const source of copy.sources) assert.match(posix.basename(source), /^dist$/, `line ${copy.line}: only dist/ comes from the build stage (${source})`);
  }
});

test('the runtime stage runs as a numeric non-root user with NODE_ENV=production', () => {
  const users = of(runtime, 'USER');
  assert.ok(users.length > 0, 'USER is set in the runtime stage');
  const user = users.at(-1)!.args;
  assert.match(user, /^\d+(:\d+)?$/, `USER must be numeric (uid[:gid]) so Kubernetes can check runAsNonRoot: ${user}`);
  assert.notEqual(Number(user.split(':')[0]), 0, 'USER must not be root');
  assert.equal(envOf(runtime).get('NODE_ENV'), 'production');
});

test("the launcher fixes V8's new space: node gets the same minimum and maximum semi-space size", () => {
  const flags = new Map(SIDECAR_NODE_FLAGS.map((f) => f.replace(/^--/, '').split('=') as [string, string]));
  const [min, max] = [flags.get('min-semi-space-size'), flags.get('max-semi-space-size')];
  assert.ok(min !== undefined && max !== undefined, `node's options set both semi-space sizes: ${[...flags.keys()].join(', ')}`);
  assert.equal(min, max, "a new space V8 may resize ran the sidecar promoting every scavenge's survivors (docs/performance.md)");
  assert.ok(Number(max) >= 8 && Number(max) <= 32, `semi-space ${max} MiB`);
});

test('the launcher sets every V8 flag the sidecar needs: a fixed heap growing factor and --expose-gc', () => {
  // The sidecar sets no V8 flag itself (src/ has no v8.setFlagsFromString): these are all there is.
  const flags = [...SIDECAR_NODE_FLAGS];
  const growing = flags.find((f) => f.startsWith('--heap-growing-percent='))?.split('=')[1];
  assert.ok(growing !== undefined, `--heap-growing-percent is set: ${flags.join(' ')}`);
  assert.ok(Number(growing) >= 50 && Number(growing) <= 300, `heap growing factor 1.5-4 x, not ${growing} %`);
  assert.ok(flags.includes('--expose-gc'), 'runtime.idleCollection (on by default) needs --expose-gc');
  // V8's flags are not Node's stable interface: node exits 9 on one it does not know.
  const run = spawnSync(process.execPath, [...flags, '-e', 'process.stdout.write(typeof gc)'], { encoding: 'utf8' });
  assert.equal(run.status, 0, `this node accepts ${flags.join(' ')}: ${run.stderr}`);
  assert.equal(run.stdout, 'function');
});

test('npm start runs the sidecar through bin/authz-sidecar, which is executable and runs the built bundle', () => {
  const { scripts, bin } = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { scripts: Record<string, string>; bin: Record<string, string> };
  const steps = scripts.start.split('&&').map((part) => part.trim().split(/\s+/));
  assert.equal(steps.filter((words) => words[0] === 'bin/authz-sidecar').length, 1, `npm start runs bin/authz-sidecar once: ${scripts.start}`);
  assert.ok(!steps.some((words) => words.includes('node') && words.some((w) => w.endsWith('authz-sidecar.mjs'))), 'npm start does not repeat the node flags');
  assert.deepEqual(bin, { 'authz-sidecar': 'bin/authz-sidecar', authzctl: 'bin/authzctl' });
  for (const file of Object.values(bin)) {
    assert.ok((statSync(`${ROOT}${file}`).mode & 0o111) !== 0, `${file} is executable (git keeps the mode)`);
    const run = spawnSync(`${ROOT}${file}`, ['--version'], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
    });
    assert.equal(run.status, 0, `${file} --version: ${run.stderr}`);
    assert.match(run.stdout, new RegExp(`^${posix.basename(file)} \\d+\\.\\d+\\.\\d+\\n$`));
  }
  assert.equal(launcherInvocation(readFileSync(LAUNCHER, 'utf8')).script, 'dist/authz-sidecar.mjs');
});

test('ENTRYPOINT runs bin/authz-sidecar on dist/authz-sidecar.mjs, from the build output, under tini', () => {
  const script = serverScript();
  assert.equal(posix.relative(workdirAt(runtime), script), 'dist/authz-sidecar.mjs');
  const dist = runtime.instructions.findIndex((i) => i.keyword === 'COPY' && copyArgs(i).from !== undefined);
  const copy = copyArgs(runtime.instructions[dist]);
  assert.ok(script.startsWith(`${absolute(runtime, dist, copy.destination)}/`), `${script} is inside the copied build output (${copy.destination})`);
  // The build stage's tsc and bundler write dist/ under its WORKDIR (tsconfig outDir "dist").
  const build = stages.find((s) => s.name === copy.from)!;
  assert.deepEqual(
    copy.sources.map((s) => posix.resolve(workdirAt(build), s)),
    [posix.join(workdirAt(build), 'dist')],
  );

  const entrypoint = execForm(runtime.instructions[lastIndex(runtime, 'ENTRYPOINT')])!;
  if (entrypoint[0].endsWith('tini')) {
    assert.equal(entrypoint[1], '--', "tini -- bin/authz-sidecar …: the sidecar's own flags are not read by tini");
    assert.ok(
      of(runtime, 'RUN').some((r) => /apt-get install[^&]*\btini\b/.test(r.args)),
      'tini is installed in the runtime stage',
    );
  }
  const cmd = of(runtime, 'CMD').at(-1);
  assert.deepEqual(cmd && execForm(cmd), ['--config', '/etc/authz-sidecar/config.yaml']);
});

test('the build stage has every script npm run build runs', () => {
  const scripts = [
    ...(JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { scripts: Record<string, string> }).scripts.build.matchAll(/\bnode (scripts\/\S+)/g),
  ].map((m) => m[1]);
  assert.ok(scripts.includes('scripts/bundle.mjs'), `npm run build bundles the sidecar: ${scripts.join(', ')}`);
  const build = stages.find((s) => s.name === copies(runtime).find((c) => c.from)?.from)!;
  const copied = copies(build).filter((c) => c.from === undefined);
  for (const script of scripts) {
    assert.ok(
      copied.some(
        (c) => c.sources.includes(script) && posix.resolve(workdirAt(build), c.destination, posix.basename(script)) === posix.resolve(workdirAt(build), script),
      ),
      `the build stage copies ${script} to where npm run build runs it`,
    );
  }
});

test('the runtime stage has the protos where dist/src/grpc/protos.js (authzctl check) loads them', () => {
  // protos.ts: PROTO_ROOT = new URL('../../../proto', import.meta.url)
  const protoRoot = posix.resolve(workdirAt(runtime), 'dist/src/grpc', '../../../proto');
  const destinations = runtime.instructions.flatMap((instruction, index) => {
    if (instruction.keyword !== 'COPY') return [];
    const copy = copyArgs(instruction);
    return copy.sources.some((s) => /(^|\/)proto\/?$/.test(s)) ? [absolute(runtime, index, copy.destination)] : [];
  });
  assert.deepEqual(destinations, [protoRoot]);
});

test('ports 9191 and 9192 are exposed and there is no HEALTHCHECK (Kubernetes probes instead)', () => {
  const exposed = of(runtime, 'EXPOSE')
    .flatMap((e) => e.args.split(/\s+/))
    .map((p) => p.replace(/\/tcp$/, ''));
  assert.deepEqual(exposed.sort(), ['9191', '9192']);
  assert.equal(stages.flatMap((s) => of(s, 'HEALTHCHECK')).length, 0);
});

test('.dockerignore keeps local state out and every copied path in', () => {
  const patterns = dockerignorePatterns(readFileSync(`${ROOT}.dockerignore`, 'utf8'));
  for (const path of ['node_modules', 'dist', '.git', 'test', 'node_modules/jose/package.json', 'dist/src/main.js', 'scripts/demo.mjs'])
    assert.ok(dockerIgnored(patterns, path), `${path} is excluded from the build context`);
  const fromContext = stages.flatMap((s) =>
    copies(s)
      .filter((c) => c.from === undefined)
      .flatMap((c) => c.sources),
  );
  assert.ok(fromContext.length > 0);
  for (const source of fromContext) assert.ok(!dockerIgnored(patterns, source), `${source} is copied but .dockerignore excludes it`);
});

// --- "no dev dependency at run time", from the compiled server itself -------------------

const DIST_SRC = `${ROOT}dist/src`;

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? jsFiles(path) : entry.name.endsWith('.js') ? [path] : [];
  });
}

/** Every module specifier in a file: static and dynamic import, export … from, require(). */
function specifiers(file: string): string[] {
  return ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles.map((f) => f.fileName);
}

const packageName = (specifier: string) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');

test('every package dist/src imports is a production dependency', () => {
  const files = jsFiles(DIST_SRC);
  assert.ok(files.length > 20, `expected the compiled server under dist/src (run tsc first), found ${files.length} files`);
  const used = new Map<string, string>();
  for (const file of files) {
    for (const specifier of specifiers(file)) {
      if (specifier.startsWith('.') || specifier.startsWith('/')) {
        const target = resolve(dirname(file), specifier);
        assert.ok(
          !relative(DIST_SRC, target).startsWith('..'),
          `${relative(ROOT, file)} imports ${specifier}, outside dist/src (the image ships dist/src only)`,
        );
        continue;
      }
      if (isBuiltin(specifier)) continue;
      used.set(packageName(specifier), relative(ROOT, file));
    }
  }
  // The scan must see the server's real dependencies, or it proves nothing.
  for (const expected of ['@grpc/grpc-js', '@grpc/proto-loader', 'jose', 'nats', 'pino', 'zod']) assert.ok(used.has(expected), `scan found ${expected}`);
  for (const [name, file] of used) {
    assert.ok(
      Object.hasOwn(pkg.dependencies, name),
      `${file} imports "${name}", which is not in package.json "dependencies"${Object.hasOwn(pkg.devDependencies, name) ? ' (only in devDependencies: npm ci --omit=dev leaves it out of the image)' : ''}`,
    );
  }
});

/**
 * Every module the bundle loads at run time: its static imports, and what esbuild left as
 * require() calls, i.e. not bundled (written `__require("x")` inside the bundle).
 */
function bundleLoads(bundle: string): string[] {
  // Lines inside block comments (` * @param {import('./index.js').RE2JS}` in re2js's JSDoc) are not code.
  const text = bundle.replace(/^\s*\*.*$/gm, '');
  const found = [
    ...text.matchAll(/^import\s*(?:[^'"\n]*?\bfrom\s*)?["']([^"']+)["']|\b__require\(\s*["']([^"']+)["']\s*\)|\bimport\(\s*["']([^"']+)["']\s*\)/gm),
  ];
  return [...new Set(found.map((m) => m[1] ?? m[2] ?? m[3]))].sort();
}

test("the sidecar's bundle (dist/authz-sidecar.mjs) loads nothing but node's built-in modules", () => {
  const bundle = readFileSync(`${ROOT}dist/authz-sidecar.mjs`, 'utf8');
  const loads = bundleLoads(bundle);
  // The scan must see what the bundle does load, or it proves nothing.
  for (const expected of ['node:module', 'http2', 'crypto'])
    assert.ok(
      loads.some((l) => l.replace(/^node:/, '') === expected.replace(/^node:/, '')),
      `scan found ${expected}: ${loads.join(', ')}`,
    );
  assert.deepEqual(
    loads.filter((l) => !isBuiltin(l)),
    [],
    'the bundle loads only built-in modules: the sidecar needs no node_modules',
  );
  // It holds the dependencies themselves, not references to them.
  for (const inside of ['node_modules/@grpc/grpc-js/', 'node_modules/jose/', 'node_modules/nats/', 'node_modules/pino/'])
    assert.ok(bundle.includes(`// ${inside}`), `${inside} is bundled`);
});

test('the bundle scan sees each form a bundle loads a module in (control)', () => {
  const text = [
    'import { createRequire as a } from "node:module";',
    'var b = __require("http2");',
    "const c = await import('pkg-c');",
    'import "side-effect";',
    'x = "__require(not-a-call)";',
  ].join('\n');
  assert.deepEqual(bundleLoads(text), ['http2', 'node:module', 'pkg-c', 'side-effect']);
});

test('the import scan sees every form a module can be loaded in (control)', () => {
  const text = [
    "import a from 'pkg-a';",
    "import { b } from '@scope/pkg-b/sub';",
    "import * as c from 'node:fs';",
    "export { d } from 'pkg-d';",
    "const e = await import('pkg-e');",
    "const f = require('pkg-f/x.js');",
    "import './local.js';",
  ].join('\n');
  const found = ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
  assert.deepEqual(found.sort(), ['./local.js', '@scope/pkg-b/sub', 'node:fs', 'pkg-a', 'pkg-d', 'pkg-e', 'pkg-f/x.js']);
  assert.deepEqual(
    found
      .filter((s) => !s.startsWith('.') && !isBuiltin(s))
      .map(packageName)
      .sort(),
    ['@scope/pkg-b', 'pkg-a', 'pkg-d', 'pkg-e', 'pkg-f'],
  );
});
