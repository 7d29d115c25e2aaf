import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../../testkit/paths.js';

/**
 * Heap a compiled policy keeps, per rule, measured in a child process between two full
 * collections. The benchmark's 10,000-rule policy (40 services' paths, all five methods,
 * scopes, issuers, DENY carve-outs) kept ~2,300 bytes per rule when every rule had its own
 * Sets and every index list reserved 17 slots; ~1,000 since they are shared and exact.
 */
function retainedBytesPerRule(rules: number): number {
  const policyModule = pathToFileURL(`${ROOT}dist/src/policy/index.js`).href;
  const generator = pathToFileURL(`${ROOT}dist/bench/policies/generate.js`).href;
  const script = `
    const { compilePolicyText } = await import(${JSON.stringify(policyModule)});
    const { policyText } = await import(${JSON.stringify(generator)});
    const text = policyText({ rules: ${rules}, json: true });
    const used = () => { gc(); gc(); return process.memoryUsage().heapUsed; };
    const before = used();
    const policy = compilePolicyText(text, 'policy.json', { service: 'orders' });
    const after = used();
    process.stdout.write(JSON.stringify({ rules: policy.ruleCount, bytes: after - before }));
  `;
  const out = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' })) as {
    rules: number;
    bytes: number;
  };
  assert.equal(out.rules, rules);
  return out.bytes / rules;
}

describe('compiled policy size', () => {
  it('keeps under 1,400 bytes per rule of a 10,000-rule policy', () => {
    const perRule = retainedBytesPerRule(10_000);
    assert.ok(perRule > 0 && perRule < 1_400, `${Math.round(perRule)} bytes per rule`);
  });
});
