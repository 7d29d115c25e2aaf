import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildActivation, compileCondition, conditionError } from '../../src/policy/cel.js';
import { regexError } from '../../src/policy/cel-regex.js';
import type { RequestView } from '../../src/request/types.js';

const view = (headers: Record<string, string>): RequestView => ({
  id: 'r', method: 'GET', host: 'h', path: '/x', rawPath: '/x', query: {}, headers, repeatedHeaders: new Set(),
  sourceAddress: '', sourcePrincipal: '', contextExtensions: {},
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

describe('CEL matches(): only patterns linear in the input', () => {
  it('refuses patterns that backtrack polynomially: two quantifiers, or one unanchored', () => {
    for (const pattern of ['.*a.*b', '[a-z]+[a-z]+x', '^a*a*a*c', '^[a-z]+\\.[a-z]+$', 'x{1,9}y?'])
      assert.match(regexError(pattern) ?? '', /^at most one variable-length quantifier/, pattern);
    for (const pattern of ['a+b', '[a-z]+x', '.*admin', '^a+|b'])
      assert.match(regexError(pattern) ?? '', /^a pattern with a quantifier must start with "\^"/, pattern);
  });

  it('accepts anchored single-quantifier patterns and quantifier-free ones', () => {
    for (const pattern of ['^/api/[a-z0-9-]+$', '^team-[a-z0-9-]+$', '^(GET|HEAD)$', '^(?:ab)+$', '^x{2,5}$', '^a{3}b{4}$', 'admin', 'a|b', '^.*\\.png$'])
      assert.equal(regexError(pattern), null, pattern);
  });

  it('an accepted pattern stays fast on a hostile 1 MiB header (checked by result, not by a timer)', () => {
    const condition = compileCondition('request.headers["x"].matches("^[a-z]+$")');
    const act = buildActivation(view({ x: 'a'.repeat(1024 * 1024) + '!' }), { user: undefined, principal: undefined } as never, []);
    assert.equal(condition.evaluate(act), false);
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
    assert.throws(() => parsePolicy(`# ${'x'.repeat(MAX_POLICY_BYTES)}\n`, 'p.yaml'), /^Error: p\.yaml: \(document\): is \d+ characters \(at most 4194304\)$|p\.yaml: \(document\): is \d+ characters/);
  });
});
