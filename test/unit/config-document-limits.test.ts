import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DocumentError, parseConfig } from '../../src/config/index.js';
import { parseYamlOrJson } from '../../src/shared/index.js';
import { compilePolicyText } from '../../src/policy/index.js';

/*
 * Found by the fuzzing suite (test/fuzz/documents.ts): the one-line `FILE[:LINE:COLUMN]: FIELD: REASON`
 * contract broke on key names holding line breaks, and deep nesting overflowed the stack.
 */

function refusal(fn: () => unknown): DocumentError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof DocumentError, `not a DocumentError: ${String(error)}`);
    return error;
  }
  assert.fail('did not throw');
}

const POLICY = (extra: string) =>
  `{"apiVersion":"authz-sidecar/v1","kind":"Policy","metadata":{"name":"p","service":"orders"},"spec":{"defaultAction":"DENY","rules":[],${extra}}}`;

describe('DocumentError stays one line whatever the document holds', () => {
  it('escapes line breaks, line separators and terminal escapes in a key name', () => {
    for (const [key, shown] of [
      ['a\\nb', 'a\\u000ab'],
      ['a\\rb', 'a\\u000db'],
      ['a\\u2028b', 'a\\u2028b'],
      ['a\\u0085b', 'a\\u0085b'],
      ['k\\u001b[31m', 'k\\u001b[31m'],
    ]) {
      const error = refusal(() => compilePolicyText(POLICY(`"${key}": 1`), 'p.json'));
      // The position is the key's: the strict JSON parser's fast path keeps none, the locator finds it in the text.
      assert.equal(error.message, `p.json:1:135: spec.${shown}: unknown field`);
      assert.equal(error.field, `spec.${shown}`);
      assert.doesNotMatch(error.message, /[\n\r\u0085\u2028\u2029\u001b]/);
    }
    const config = refusal(() => parseConfig('service: orders\npolicy: { file: p.yaml }\n"x\\ny": 1\n', '/etc/c.yaml'));
    assert.equal(config.message, '/etc/c.yaml:3:1: x\\u000ay: unknown field');
  });

  it('escapes them in a reason too, after folding multi-line reasons into one', () => {
    const error = new DocumentError('f.yaml', 'a\u2028b', 'first\n  second\u2029third\u0007');
    assert.equal(error.message, 'f.yaml: a\\u2028b: first second\\u2029third\\u0007');
    assert.equal(error.reason, 'first second\\u2029third\\u0007');
    assert.equal(new DocumentError('f.yaml', 'issuers[0].keys', 'must name exactly one').message, 'f.yaml: issuers[0].keys: must name exactly one');
  });
});

describe('deeply nested documents', () => {
  const nested = (levels: number) => `a: ${'['.repeat(levels)}${']'.repeat(levels)}\n`;

  it('accepts 64 levels of collections and refuses 65, before composing the document', () => {
    assert.deepEqual(parseYamlOrJson('a: [[1]]\n', 'f.yaml'), { a: [[1]] });
    assert.equal(typeof parseYamlOrJson(nested(63), 'f.yaml'), 'object');
    assert.equal(refusal(() => parseYamlOrJson(nested(64), 'f.yaml')).message, 'f.yaml: (document): nested deeper than 64 levels');
    // Block sequences nest without indentation on one line ("- - - x"), and block maps by indentation.
    assert.equal(refusal(() => parseYamlOrJson(`${'- '.repeat(70)}x\n`, 'f.yaml')).reason, 'nested deeper than 64 levels');
    const blockMaps = Array.from({ length: 70 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n') + ' x\n';
    assert.equal(refusal(() => parseYamlOrJson(blockMaps, 'f.yaml')).reason, 'nested deeper than 64 levels');
  });

  it('refuses a document nested 100,000 deep with a DocumentError, even when called deep in the stack', () => {
    const json = `{"service":"orders","x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    assert.equal(refusal(() => parseConfig(json, '/etc/c.json')).message, '/etc/c.json: (document): nested deeper than 64 levels');
    // Most of the stack already used, as inside a deep caller: still a clean refusal.
    const deepCall = (n: number): DocumentError => (n === 0 ? refusal(() => compilePolicyText(json, 'p.json')) : deepCall(n - 1));
    assert.equal(deepCall(5_000).reason, 'nested deeper than 64 levels');
  });
});

describe('collection keys', () => {
  it('are refused as unknown fields without a process warning on stderr', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    try {
      const error = refusal(() =>
        compilePolicyText(
          'apiVersion: authz-sidecar/v1\nkind: Policy\nmetadata: { name: p, service: orders }\n? [a, b]\n: 1\nspec: { defaultAction: DENY, rules: [] }\n',
          'p.yaml',
        ),
      );
      assert.equal(error.message, 'p.yaml: [ a, b ]: unknown field');
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(warnings, []);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
