import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describeRuntime, runtimeInEffect } from '../../src/runtime/in-effect.js';
import { ROOT } from '../../testkit/paths.js';

const gc = (): void => {};
const SHIPPED = ['--min-semi-space-size=16', '--max-semi-space-size=16', '--heap-growing-percent=100', '--expose-gc'];

describe('runtimeInEffect', () => {
  it('runs the idle collection when configured on and node exposes gc', () => {
    const runtime = runtimeInEffect({ idleCollection: true }, { execArgv: SHIPPED, gc });
    assert.deepEqual(runtime, { idleCollection: 'on', nodeFlags: SHIPPED });
    assert.equal(describeRuntime(runtime), `runtime: idleCollection on; node flags: ${SHIPPED.join(' ')}`);
  });

  it('names the missing flag when configured on but node was started without --expose-gc', () => {
    const runtime = runtimeInEffect({ idleCollection: true }, { execArgv: [], gc: undefined });
    assert.equal(runtime.idleCollection, 'missing-expose-gc');
    assert.equal(describeRuntime(runtime), 'runtime: idleCollection off (configured on; node was started without --expose-gc); node flags: (none)');
  });

  it('is off when configured off, whatever node exposes', () => {
    for (const exposed of [gc, undefined]) assert.equal(runtimeInEffect({ idleCollection: false }, { execArgv: SHIPPED, gc: exposed }).idleCollection, 'off');
    assert.match(
      describeRuntime(runtimeInEffect({ idleCollection: false }, { execArgv: SHIPPED, gc })),
      /^runtime: idleCollection off; node flags: --min-semi-space-size=16 /,
    );
  });
});

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? tsFiles(path) : entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Top-level statements of a module that do something when it is imported (calls, assignments…). */
function importTimeStatements(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  return source.statements.filter((s) => ts.isExpressionStatement(s)).map((s) => s.getText(source).split('\n')[0]);
}

describe('runtime tuning is configuration, not a side effect', () => {
  const files = tsFiles(`${ROOT}src`);

  it('no source file changes a V8 flag after start or evaluates code in a new context', () => {
    assert.ok(files.length > 50, `scanned ${files.length} files under src/`);
    const offenders = files.filter((file) => /setFlagsFromString|runInNewContext/.test(readFileSync(file, 'utf8')));
    assert.deepEqual(
      offenders.map((f) => relative(ROOT, f)),
      [],
    );
    // Nor does any dependency inside the bundle the image runs.
    assert.doesNotMatch(readFileSync(`${ROOT}dist/authz-sidecar.mjs`, 'utf8'), /setFlagsFromString|runInNewContext/);
  });

  it('the runtime modules do nothing when imported; main.ts only calls main()', () => {
    for (const file of files.filter((f) => relative(ROOT, f).startsWith('src/runtime/')))
      assert.deepEqual(importTimeStatements(file), [], relative(ROOT, file));
    const main = importTimeStatements(`${ROOT}src/main.ts`);
    assert.equal(main.length, 1, main.join('; '));
    assert.match(main[0], /^main\(process\.argv/);
  });
});
