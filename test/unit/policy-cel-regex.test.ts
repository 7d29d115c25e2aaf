import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../../testkit/paths.js';

/**
 * re2js grows a DFA per compiled pattern as inputs reach new states, up to its 8 MiB budget.
 * Patterns are shared between conditions by text but held strongly only by the conditions
 * that use them, so a policy reload frees the DFAs of patterns no longer in use. Measured in
 * a child process between full collections.
 */
describe('CEL matches(): compiled patterns live as long as their conditions', () => {
  it('frees a dropped condition’s DFA, and shares one pattern between conditions', (t) => {
    const celModule = pathToFileURL(`${ROOT}dist/src/policy/cel.js`).href;
    const script = `
      const { buildActivation, compileCondition } = await import(${JSON.stringify(celModule)});
      const used = async () => { for (let i = 0; i < 3; i++) { gc(); await new Promise((r) => setTimeout(r, 10)); } return process.memoryUsage().heapUsed; };
      // A pattern whose DFA has ~2^20 states: a long random input keeps adding new ones.
      let x = 1;
      const random = () => ((x = (x * 1103515245 + 12345) & 0x7fffffff) >> 16) & 1 ? 'a' : 'b';
      const header = Array.from({ length: 65535 }, random).join('') + '!';
      const view = { id: 'r', method: 'GET', host: 'h', path: '/', rawPath: '/', query: {}, headers: { x: header }, repeatedHeaders: new Set(), sourceAddress: '', sourcePrincipal: '', contextExtensions: {} };
      const activation = buildActivation(view, { user: null, service: null, principal: null }, []);
      const source = 'request.headers["x"].matches("[ab]*a[ab]{20}!")';
      // Builds both environments and loads what matching needs, outside the measurement.
      compileCondition('request.path.matches("^/x")').evaluate(activation);
      const before = await used();
      let first = compileCondition(source);
      let second = compileCondition(source);
      if (first.evaluate(activation) !== false) throw new Error('expected no match');
      const grown = await used();
      first = null;
      const shared = await used();
      second = null;
      const after = await used();
      process.stdout.write(JSON.stringify({ grown: grown - before, shared: shared - before, after: after - before }));
    `;
    const out = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' })) as Record<
      string,
      number
    >;
    const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
    const note = `grown ${mib(out.grown)}, one of two conditions dropped ${mib(out.shared)}, both dropped ${mib(out.after)}`;
    assert.ok(out.grown > 3 * 2 ** 20, `the DFA grew: ${note}`);
    assert.ok(out.shared > 3 * 2 ** 20, `still held by the second condition: ${note}`);
    assert.ok(out.after < 1.5 * 2 ** 20, `freed with the last condition: ${note}`);
    t.diagnostic(note);
  });
});
