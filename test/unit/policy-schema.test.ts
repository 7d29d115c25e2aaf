import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { DocumentError } from '../../src/shared/index.js';
import { loadPolicyFile, parsePolicy, validatePolicyDocument } from '../../src/policy/index.js';

/** dist/test/unit → the source tree's fixtures. */
const fixtures = fileURLToPath(new URL('../../../test/fixtures/policies/', import.meta.url));
const fixture = (name: string) => fixtures + name;

describe('policy document schema', () => {
  it('parses the example policy and applies defaults', () => {
    const doc = parsePolicy(readFileSync(fixture('orders.yaml'), 'utf8'), 'orders.yaml');
    assert.equal(doc.metadata.name, 'orders');
    assert.equal(doc.spec.defaultAction, 'DENY');
    assert.deepEqual(doc.spec.roles, { admin: ['orders:*'], customer: ['orders:read'] });
    assert.equal(doc.spec.rules.length, 5);
    assert.deepEqual(doc.spec.rules[3].to?.[0].methods, ['GET']);
    assert.deepEqual(doc.spec.rules[1].to?.[0].hosts, ['orders.example.test', '*.example.test']);

    const json = parsePolicy(readFileSync(fixture('orders.json'), 'utf8'), 'orders.json');
    assert.deepEqual(json.spec.roles, {});
    assert.equal(json.spec.rolesFrom, 'roles');
  });

  it('names file, line:column, field (a rule by index and name) and reason on one line for every invalid fixture', () => {
    const cases: Array<[string, string]> = [
      ['unknown-field.yaml', ':6:3: spec.rule: unknown field'],
      ['bad-path.yaml', ':15:37: spec.rules[2] (third).to[0].paths[1]: must start with "/" or "*"'],
      [
        'star-in-segment.yaml',
        ':9:38: spec.rules[0] (items).to[0].paths[1]: "*" must be a whole segment ("/a/*/b"), "**" the last one ("/a/**"), or the first character ("*.png"), not part of "orders*"',
      ],
      // Found while compiling, after validation: the rule is named, the position is not known.
      [
        'unknown-param.yaml',
        ": spec.rules[1] (own-orders).when: reads request.params.custmer, which none of the rule's paths captures (they capture: customer)",
      ],
      ['encoded-path.yaml', ':9:22: spec.rules[0] (encoded).to[0].paths[0]: must not contain "%"'],
      [
        'lower-case-method.yaml',
        ':9:24: spec.rules[0] (no-deletes).to[0].methods[0]: must be upper-case ("DELETE"): methods are case-sensitive and requests with lower-case ones are refused',
      ],
      ['bad-host.yaml', ':9:22: spec.rules[0] (host).to[0].hosts[0]: must be a host name, "[ipv6]" or "*.suffix", optionally with ":port"'],
      ['empty-target.yaml', ':9:12: spec.rules[0] (anything).to[0]: must list methods, paths or hosts (omit "to" for any request)'],
      ['bad-action.yaml', ':8:15: spec.rules[0] (read).action: must be "ALLOW" or "DENY"'],
      ['missing-default.yaml', ':5:3: spec.defaultAction: required'],
      ['duplicate-rule.yaml', ':10:13: spec.rules[1] (read).name: duplicate rule name "read" (first at spec.rules[0])'],
      ['deny-with-require.yaml', ':10:16: spec.rules[0] (writers-only).require: is only allowed on ALLOW rules (use "when" on a DENY rule)'],
      ['unknown-permission.yaml', ':10:30: spec.rules[0] (write).require.permission: no role in spec.roles grants "orders:write"'],
      ['bad-role-pattern.yaml', ':7:25: spec.roles.admin[1]: must be ":"-separated segments of letters, digits, ".", "_", "-", "/", or "*"'],
      ['cel-syntax.yaml', ':9:13: spec.rules[0] (tenant).when: Unexpected token: EOF (at character 30)'],
      ['cel-unknown-variable-field.yaml', ':12:13: spec.rules[1] (typo).when: No such key: metod (at character 9)'],
      ['cel-not-bool.yaml', ':9:13: spec.rules[0] (path).when: must evaluate to bool, not string'],
      ['cel-regex-lookaround.yaml', ':9:13: spec.rules[0] (regex).when: matches("^(?!curl)"): lookarounds are not supported (RE2 syntax)'],
      ['yaml-syntax.yaml', ':8:1: (document): Sequence item without - indicator'],
      ['not-a-policy.json', ':1:45: kind: must be "Policy"'],
    ];
    for (const [name, expected] of cases) {
      const path = fixture(name);
      assert.throws(
        () => loadPolicyFile(path),
        (error: unknown) => {
          assert.ok(error instanceof DocumentError, name);
          assert.equal(error.message, `${path}${expected}`);
          assert.ok(!/ \(/.test(error.field), `${name}: the field stays the path (${error.field})`);
          assert.ok(!error.message.includes('\n'), `${name}: one line`);
          return true;
        },
      );
    }
  });

  const base = () => ({
    apiVersion: 'authz-sidecar/v1',
    kind: 'Policy',
    metadata: { name: 'orders', service: 'orders' },
    spec: { defaultAction: 'DENY', rules: [] as unknown[] },
  });
  const errorOf = (doc: unknown) => {
    try {
      validatePolicyDocument(doc, 'p.yaml');
    } catch (error) {
      return (error as Error).message;
    }
    return 'valid';
  };

  it('prefers an unknown field over the errors it causes', () => {
    const doc = base();
    doc.spec.rules = [{ rule: 'read', action: 'ALLOW' }];
    assert.equal(errorOf(doc), 'p.yaml: spec.rules[0].rule: unknown field');
  });

  it('rejects empty lists, empty entries and bad names', () => {
    const withRule = (rule: unknown) => ({ ...base(), spec: { defaultAction: 'DENY', rules: [rule] } });
    assert.equal(errorOf(withRule({ name: 'a', action: 'ALLOW', to: [] })), 'p.yaml: spec.rules[0] (a).to: must not be empty');
    assert.equal(
      errorOf(withRule({ name: 'a', action: 'ALLOW', from: [{}] })),
      'p.yaml: spec.rules[0] (a).from[0]: must list issuers, subjects or principals (omit "from" for anyone)',
    );
    assert.equal(errorOf(withRule({ name: 'a', action: 'ALLOW', require: {} })), 'p.yaml: spec.rules[0] (a).require: must list scopes or permission');
    assert.equal(errorOf(withRule({ name: 'Read', action: 'ALLOW' })), 'p.yaml: spec.rules[0].name: must match [a-z0-9][a-z0-9._-]*');
    assert.equal(errorOf(withRule({ action: 'ALLOW' })), 'p.yaml: spec.rules[0].name: required');
    // A rule's name is shown only when it is a valid one: the message never echoes arbitrary text.
    assert.equal(errorOf(withRule({ name: 'Read Me', action: 'ALLOW', rule: 1 })), 'p.yaml: spec.rules[0].rule: unknown field');
    assert.equal(errorOf(withRule({ name: 'read', action: 'ALLOW', rule: 1 })), 'p.yaml: spec.rules[0] (read).rule: unknown field');
    assert.equal(
      errorOf(withRule({ name: 'a', action: 'ALLOW', to: [{ methods: ['*'] }] })),
      'p.yaml: spec.rules[0] (a).to[0].methods[0]: omit "methods" to match any method',
    );
    assert.equal(
      errorOf(withRule({ name: 'a', action: 'ALLOW', to: [{ methods: ['Get'] }] })),
      'p.yaml: spec.rules[0] (a).to[0].methods[0]: must be upper-case ("GET"): methods are case-sensitive and requests with lower-case ones are refused',
    );
    assert.equal(errorOf(withRule({ name: 'a', action: 'ALLOW', to: [{ methods: ['PROPFIND', 'M-SEARCH'] }] })), 'valid');
    assert.equal(errorOf(withRule({ name: 'a', action: 'ALLOW', to: { paths: ['/a'] } })), 'p.yaml: spec.rules[0] (a).to: must be a list');
    assert.equal(errorOf(withRule({ name: 'a', action: 'ALLOW', when: 'x'.repeat(4097) })), 'p.yaml: spec.rules[0] (a).when: must be at most 4096 characters');
    assert.equal(
      errorOf(withRule({ name: 'a', action: 'ALLOW', require: { permission: 'orders:*' } })),
      'p.yaml: spec.rules[0] (a).require.permission: must be a concrete permission (wildcards belong in spec.roles)',
    );
    assert.equal(
      errorOf(withRule({ name: 'a', action: 'ALLOW', from: [{ principals: ['spiffe://td/*/x'] }] })),
      'p.yaml: spec.rules[0] (a).from[0].principals[0]: "*" is allowed only as the whole pattern or last after "/"',
    );
    assert.equal(
      errorOf({ ...base(), spec: { defaultAction: 'DENY', rules: [], roles: { 'a b': [] } } }),
      'p.yaml: spec.roles.a b: must be non-empty without spaces or commas',
    );
    assert.equal(
      errorOf({ ...base(), spec: { defaultAction: 'DENY', rules: [], rolesFrom: 'a..b' } }),
      'p.yaml: spec.rolesFrom: must be a claim name or a dotted path (a.b.c)',
    );
    assert.equal(errorOf(base()), 'valid');
  });

  it('reports YAML problems with their line, and non-mapping documents', () => {
    assert.throws(() => parsePolicy('a: 1\na: 2\n', 'p.yaml'), { message: 'p.yaml:2:1: (document): Map keys must be unique' });
    assert.throws(() => parsePolicy('a: "x', 'p.yaml'), { message: 'p.yaml:1:6: (document): Missing closing "quote' });
    assert.throws(() => parsePolicy('{"a": 1,, }', 'p.json'), { message: 'p.json:1:9: (document): Unexpected , in flow map' });
    assert.throws(() => parsePolicy('- a\n', 'p.yaml'), { message: 'p.yaml: (document): must be a mapping (apiVersion, kind, metadata, spec)' });
    assert.throws(() => parsePolicy('', 'p.yaml'), { message: 'p.yaml: (document): must be a mapping (apiVersion, kind, metadata, spec)' });
  });

  it('loads a file with a content-hash revision, or the given one', () => {
    const policy = loadPolicyFile(fixture('orders.yaml'));
    assert.match(policy.revision, /^[0-9a-f]{12}$/);
    assert.equal(policy.name, 'orders');
    assert.equal(policy.service, 'orders');
    assert.equal(policy.ruleCount, 5);
    assert.equal(loadPolicyFile(fixture('orders.yaml')).revision, policy.revision);
    assert.equal(loadPolicyFile(fixture('orders.yaml'), 'kv-42').revision, 'kv-42');
    assert.throws(() => loadPolicyFile(fixture('nope.yaml')), {
      name: 'DocumentError',
      message: `${fixture('nope.yaml')}: (document): file not found`,
    });
  });
});
