import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildActivation, compileCondition, conditionError } from '../../src/policy/cel.js';
import { MAX_REGEX_PROGRAM, regexError } from '../../src/policy/cel-regex.js';
import type { RequestView } from '../../src/request/types.js';

const view = (headers: Record<string, string>): RequestView => ({
  id: 'r',
  method: 'GET',
  host: 'h',
  path: '/x',
  rawPath: '/x',
  query: {},
  headers,
  repeatedHeaders: new Set(),
  sourceAddress: '',
  sourcePrincipal: '',
  contextExtensions: {},
});

describe('CEL: bounded evaluation cost (cel-js has no runtime cost limit)', () => {
  it('refuses chained and nested comprehensions (list doubling would abort the process)', () => {
    const doubling = '[[1]]' + '.map(a, a + a)'.repeat(30) + '.size() > 0';
    assert.equal(conditionError(doubling), 'map(): comprehensions may not be nested or chained');
    assert.equal(conditionError('[1, 2].all(a, [3].exists(b, a != b))'), 'exists(): comprehensions may not be nested or chained');
    assert.equal(conditionError('request.auth.roles.filter(r, r != "").exists(r, r == "admin")'), 'filter(): comprehensions may not be nested or chained');
    // One loop over a list, as policies use them, stays allowed.
    assert.equal(conditionError('request.auth.roles.exists(r, r.startsWith("team-"))'), null);
    assert.equal(conditionError('["a", "b"].all(r, r in request.auth.roles)'), null);
    assert.equal(conditionError('[1, 2].map(a, a + a).size() == 2'), null);
  });

  it('requires a literal limit on split() and keeps it out of comprehensions; refuses json()', () => {
    assert.match(conditionError('request.headers["x"].split(",").size() > 1') ?? '', /^split\(\) needs a literal limit from 1 to 1000/);
    assert.match(conditionError('request.headers["x"].split(",", 1001).size() > 1') ?? '', /^split\(\) needs a literal limit/);
    assert.match(conditionError('request.headers["x"].split(",", 0).size() > 1') ?? '', /^split\(\) needs a literal limit/);
    assert.equal(conditionError('request.headers["x"].split(",", 20).size() > 1'), null);
    assert.equal(conditionError('request.auth.roles.exists(r, r.split(":", 2).size() == 2)'), 'split() may not be used inside a comprehension');
    assert.equal(conditionError('bytes(request.headers["x"]).json().size() > 0'), 'json() is not allowed');
  });

  it('a bounded split over a huge header evaluates to a result, not a hang or crash', () => {
    const condition = compileCondition('request.headers["x"].split(",", 1000).exists(p, p == "needle")');
    const result = condition.evaluate(buildActivation(view({ x: ','.repeat(1024 * 1024) }), { user: undefined, principal: undefined } as never, []));
    assert.equal(result, false);
  });
});

describe('CEL matches(): RE2, linear in the input', () => {
  const hostile = (pattern: string, header: string) => {
    const condition = compileCondition(`request.headers["x"].matches(${JSON.stringify(pattern)})`);
    const started = performance.now();
    const result = condition.evaluate(buildActivation(view({ x: header }), { user: undefined, principal: undefined } as never, []));
    return { result, ms: performance.now() - started };
  };

  it('accepts patterns the linear-time heuristic refused: several quantifiers, unanchored, nested', () => {
    for (const pattern of ['.*a.*b', '[a-z]+[a-z]+x', '^a*a*a*c', '^[a-z]+\\.[a-z]+$', 'x{1,9}y?', 'a+b', '.*admin', '^a+|b', '^(a+)+$', '((ab)*c)+'])
      assert.equal(regexError(pattern), null, pattern);
  });

  it(`refuses a pattern compiling to more than MAX_REGEX_PROGRAM (${MAX_REGEX_PROGRAM}) instructions`, () => {
    assert.equal(regexError('[a-z0-9-]{1,63}'), null);
    assert.equal(regexError('\\p{L}{1000}'), `compiles to 1002 instructions (at most ${MAX_REGEX_PROGRAM}); use + or * and check the length with size()`);
    assert.match(
      conditionError('request.path.matches("^(?:[a-z]{100}){5}$")') ?? '',
      /^matches\("\^\(\?:\[a-z\]\{100\}\)\{5\}\$"\): compiles to \d+ instructions/,
    );
    // RE2's own cap on counted repetition still holds.
    assert.equal(regexError('a{1001}'), 'not valid RE2 syntax: invalid repeat count "{1001}"');
  });

  it('answers hostile 64 KiB headers in milliseconds, where backtracking takes seconds', () => {
    const cases: Array<[string, string]> = [
      ['.*a.*b', `b${'a'.repeat(64 * 1024)}`],
      ['^/v1/.*refund$', `/v1/refund-${'a'.repeat(64 * 1024)}`],
      ['^(a+)+$', `${'a'.repeat(64 * 1024)}!`],
      ['(a|aa)*c$', `c${'a'.repeat(64 * 1024)}`],
    ];
    for (const [pattern, header] of cases) {
      const { result, ms } = hostile(pattern, header);
      assert.equal(result, false, pattern);
      // Milliseconds here; a generous bound so a busy machine does not fail it.
      assert.ok(ms < 100, `${pattern}: ${ms.toFixed(1)} ms`);
    }
  });

  it('an accepted pattern stays fast on a hostile 1 MiB header (checked by result)', () => {
    assert.equal(hostile('^[a-z]+$', 'a'.repeat(1024 * 1024) + '!').result, false);
  });
});

describe('policy size limits', () => {
  it('refuses more than MAX_RULES rules before validating them, naming the field', async () => {
    const { validatePolicyDocument, MAX_RULES } = await import('../../src/policy/schema.js');
    const rules = Array.from({ length: MAX_RULES + 1 }, (_, i) => ({ name: `r${i}`, action: 'ALLOW' }));
    const doc = { apiVersion: 'authz-sidecar/v1', kind: 'Policy', metadata: { name: 'orders', service: 'orders' }, spec: { defaultAction: 'DENY', rules } };
    assert.throws(() => validatePolicyDocument(doc, 'p.yaml'), { message: `p.yaml: spec.rules: has ${MAX_RULES + 1} rules (at most ${MAX_RULES})` });
    assert.equal(validatePolicyDocument({ ...doc, spec: { ...doc.spec, rules: rules.slice(0, 2) } }, 'p.yaml').spec.rules.length, 2);
  });

  it('refuses policy text over MAX_POLICY_BYTES before parsing it', async () => {
    const { parsePolicy, MAX_POLICY_BYTES } = await import('../../src/policy/load.js');
    assert.throws(
      () => parsePolicy(`# ${'x'.repeat(MAX_POLICY_BYTES)}\n`, 'p.yaml'),
      /^Error: p\.yaml: \(document\): is \d+ characters \(at most 4194304\)$|p\.yaml: \(document\): is \d+ characters/,
    );
  });
});
