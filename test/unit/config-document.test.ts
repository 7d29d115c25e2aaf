import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { ASYMMETRIC_ALGORITHMS, DocumentError, fieldPath, HMAC_ALGORITHMS, parseYamlOrJson, validateDocument } from '../../src/shared/index.js';
import { configSchema, issuerSchema, keySourceSchema, tokenSourceSchema } from '../../src/config/schema.js';

function documentError(fn: () => unknown): DocumentError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof DocumentError, `not a DocumentError: ${String(error)}`);
    assert.ok(!error.message.includes('\n'), 'one line');
    return error;
  }
  assert.fail('did not throw');
}

describe('DocumentError and fieldPath', () => {
  it('renders FILE: FIELD: REASON, "(document)" when no field', () => {
    const error = new DocumentError('/etc/a.yaml', 'issuers[0].keys', 'must name exactly one');
    assert.equal(error.message, '/etc/a.yaml: issuers[0].keys: must name exactly one');
    assert.equal(error.name, 'DocumentError');
    assert.deepEqual([error.file, error.field, error.reason], ['/etc/a.yaml', 'issuers[0].keys', 'must name exactly one']);
    assert.deepEqual([error.line, error.column], [undefined, undefined]);
    assert.equal(new DocumentError('a.yaml', '', 'must be a mapping').message, 'a.yaml: (document): must be a mapping');
  });

  it('renders FILE:LINE:COLUMN: FIELD: REASON with a position, and a label in place of the field', () => {
    const error = new DocumentError('p.yaml', 'spec.rules[3].when', 'bad', { line: 14, column: 13, label: 'spec.rules[3] (read-orders).when' });
    assert.equal(error.message, 'p.yaml:14:13: spec.rules[3] (read-orders).when: bad');
    assert.deepEqual([error.file, error.field, error.shownField, error.reason], ['p.yaml', 'spec.rules[3].when', 'spec.rules[3] (read-orders).when', 'bad']);
    assert.deepEqual([error.line, error.column], [14, 13]);
    assert.equal(new DocumentError('a.yaml', '', 'oops', { line: 2, column: 1 }).message, 'a.yaml:2:1: (document): oops');
    assert.equal(new DocumentError('a.yaml', 'x', 'oops', { line: 2 }).message, 'a.yaml: x: oops', 'a line without a column is no position');
    const moved = error.with({ line: 1, column: 2 });
    assert.equal(moved.message, 'p.yaml:1:2: spec.rules[3] (read-orders).when: bad');
    class Sub extends DocumentError {}
    assert.ok(new Sub('a', 'b', 'c').with({ line: 1, column: 1 }) instanceof Sub, 'keeps the class');
  });

  it('renders zod paths with [index] and dotted names', () => {
    assert.equal(fieldPath(['issuers', 0, 'keys']), 'issuers[0].keys');
    assert.equal(fieldPath(['spec', 'rules', 2, 'to', 0, 'paths', 1]), 'spec.rules[2].to[0].paths[1]');
    assert.equal(fieldPath([0, 'a', 1, 2]), '[0].a[1][2]');
    assert.equal(fieldPath([]), '');
  });
});

describe('parseYamlOrJson', () => {
  it('reads a JSON document with the strict JSON parser, to the same value as the YAML path', () => {
    const json = '{"a": [1, 2.5, -0, 1e21, "x\\u00e9"], "b": {"c": null, "d": true}, "__proto__": {"e": 1}}';
    const fast = parseYamlOrJson(json, 'f.json') as Record<string, unknown>;
    const slow = parseYamlOrJson(` # comment first: not JSON, so YAML\n${json}`, 'f.json');
    assert.deepEqual(fast, slow);
    assert.equal(Object.getPrototypeOf(fast), Object.prototype);
    assert.ok(Object.hasOwn(fast, '__proto__'), '"__proto__" is an own member on both paths');
  });

  it('a JSON document the strict parser refuses is reported by the YAML path, with its position', () => {
    assert.throws(
      () => parseYamlOrJson('{\n "a": 1,\n "a": 2\n}', 'f.json'),
      (e: unknown) => e instanceof DocumentError && /^f\.json:3:2: \(document\): /.test(e.message) && /unique|duplicate/i.test(e.message),
    );
    const deep = `${'{"a":'.repeat(70)}1${'}'.repeat(70)}`;
    assert.throws(
      () => parseYamlOrJson(deep, 'f.json'),
      (e: unknown) => e instanceof DocumentError && /nested deeper than 64 levels/.test(e.message),
    );
  });

  it('reads YAML 1.2 (no "yes" booleans, no 010 octals) and JSON', () => {
    assert.deepEqual(parseYamlOrJson('flag: yes\nn: 010\noct: 0o10\nnothing: ~\n', 'f.yaml'), { flag: 'yes', n: 10, oct: 8, nothing: null });
    assert.deepEqual(parseYamlOrJson('{"a": [1, {"b": null}], "c": "x"}', 'f.json'), { a: [1, { b: null }], c: 'x' });
    assert.equal(parseYamlOrJson('', 'f.yaml'), null);
  });

  it('reports syntax errors with line and column, on one line', () => {
    const error = documentError(() => parseYamlOrJson('a: 1\nb: { c: 2\nd: 3\n', 'f.yaml'));
    assert.equal(error.field, '');
    assert.deepEqual([error.line, error.column], [3, 1]);
    assert.equal(error.message, 'f.yaml:3:1: (document): Flow map in block collection must be sufficiently indented and end with a }');
    assert.equal(documentError(() => parseYamlOrJson('a:\n\tb: 1\n', 'f.yaml')).message, 'f.yaml:2:1: (document): Tabs are not allowed as indentation');
  });

  it('refuses duplicate keys in YAML and in JSON', () => {
    assert.equal(documentError(() => parseYamlOrJson('a: 1\nb: 2\na: 3\n', 'f.yaml')).message, 'f.yaml:3:1: (document): Map keys must be unique');
    assert.equal(documentError(() => parseYamlOrJson('{"a": 1, "a": 2}', 'f.json')).message, 'f.json:1:10: (document): Map keys must be unique');
  });

  it('refuses several documents, unresolved aliases and alias bombs', () => {
    assert.match(
      documentError(() => parseYamlOrJson('---\na: 1\n---\nb: 2\n', 'f.yaml')).message,
      /^f\.yaml:3:1: \(document\): Source contains multiple documents/,
    );
    assert.match(documentError(() => parseYamlOrJson('a: *nope\n', 'f.yaml')).message, /^f\.yaml: \(document\): Unresolved alias/);
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]',
    ].join('\n');
    assert.equal(
      documentError(() => parseYamlOrJson(bomb, 'f.yaml')).message,
      'f.yaml: (document): Excessive alias count indicates a resource exhaustion attack',
    );
  });
});

describe('validateDocument', () => {
  const schema = z.strictObject({
    name: z.string().min(1).max(5),
    kind: z.enum(['a', 'b']),
    on: z.boolean().optional(),
    items: z.array(z.strictObject({ n: z.number() })).optional(),
  });
  const reason = (value: unknown): string => documentError(() => validateDocument(schema, value, 'f.yaml')).message;

  it('returns the parsed value', () => {
    assert.deepEqual(validateDocument(schema, { name: 'x', kind: 'b', items: [{ n: 1 }] }, 'f.yaml'), { name: 'x', kind: 'b', items: [{ n: 1 }] });
  });

  it('turns each kind of zod issue into a reason an operator can act on', () => {
    assert.equal(reason({ kind: 'a' }), 'f.yaml: name: required');
    assert.equal(reason({ name: 5, kind: 'a' }), 'f.yaml: name: must be a string');
    assert.equal(reason({ name: 'x', kind: 'c' }), 'f.yaml: kind: must be "a" or "b"');
    assert.equal(reason({ name: '', kind: 'a' }), 'f.yaml: name: must not be empty');
    assert.equal(reason({ name: 'toolong', kind: 'a' }), 'f.yaml: name: must be at most 5 characters');
    assert.equal(reason({ name: 'x', kind: 'a', on: 'yes' }), 'f.yaml: on: must be true or false');
    assert.equal(reason({ name: 'x', kind: 'a', items: [{ n: 'one' }] }), 'f.yaml: items[0].n: must be a number');
    assert.equal(reason({ name: 'x', kind: 'a', items: 'n' }), 'f.yaml: items: must be a list');
  });

  it('reports an unknown field before the problems it probably causes', () => {
    // `nam` is a typo for `name`: "name: required" would be the less useful message.
    assert.equal(reason({ nam: 'x', kind: 'a' }), 'f.yaml: nam: unknown field');
    assert.equal(reason({ name: 'x', kind: 'a', items: [{ n: 1, m: 2 }] }), 'f.yaml: items[0].m: unknown field');
  });

  it('refuses a non-mapping document, naming what it must be', () => {
    assert.equal(reason([]), 'f.yaml: (document): must be a mapping');
    assert.equal(reason(null), 'f.yaml: (document): must be a mapping');
    assert.equal(documentError(() => validateDocument(schema, 'text', 'f.yaml', 'a policy')).message, 'f.yaml: (document): must be a policy');
  });
});

describe('config schema', () => {
  it('cannot express the "none" algorithm, and lists every allowed one', () => {
    const all = [...ASYMMETRIC_ALGORITHMS, ...HMAC_ALGORITHMS];
    assert.ok(!all.includes('none' as never));
    const base = { name: 'idp', issuer: 'i', audiences: ['a'], keys: { file: 'k' } };
    for (const alg of ['none', 'NONE', 'hs256', 'ES256K']) assert.equal(issuerSchema.safeParse({ ...base, algorithms: [alg] }).success, false, alg);
    for (const alg of all) assert.equal(issuerSchema.safeParse({ ...base, algorithms: [alg] }).success, true, alg);
  });

  it('token sources are a header (optional prefix) or a cookie, never both', () => {
    assert.equal(tokenSourceSchema.safeParse({ header: 'authorization', prefix: 'Bearer ' }).success, true);
    assert.equal(tokenSourceSchema.safeParse({ cookie: 'access_token' }).success, true);
    assert.equal(tokenSourceSchema.safeParse({ header: 'Authorization' }).success, false, 'lower-case names only');
    assert.equal(tokenSourceSchema.safeParse({ header: 'authorization', cookie: 'c' }).success, false);
    assert.equal(tokenSourceSchema.safeParse({ cookie: 'a b' }).success, false);
  });

  it('a key source names exactly one origin and gets the remote defaults', () => {
    assert.deepEqual(keySourceSchema.parse({ url: 'https://idp/jwks' }), {
      url: 'https://idp/jwks',
      timeoutMs: 5_000,
      cooldownSeconds: 30,
      maxAgeSeconds: 600,
    });
    assert.equal(keySourceSchema.safeParse({}).success, false);
    assert.equal(keySourceSchema.safeParse({ file: 'a', secretFile: 'b' }).success, false);
    assert.equal(keySourceSchema.safeParse({ nats: false }).success, false, 'nats: false is not a source');
    assert.equal(keySourceSchema.safeParse({ url: 'ftp://idp/jwks' }).success, false);
  });

  it('bounds clock skew, token size and addresses', () => {
    const base = { name: 'idp', issuer: 'i', audiences: ['a'], keys: { file: 'k' } };
    assert.equal(issuerSchema.safeParse({ ...base, clockSkewSeconds: 300 }).success, true);
    assert.equal(issuerSchema.safeParse({ ...base, clockSkewSeconds: 301 }).success, false);
    assert.equal(issuerSchema.safeParse({ ...base, maxTokenBytes: 255 }).success, false);
    assert.equal(issuerSchema.safeParse({ ...base, audiences: [] }).success, false);
    const config = (address: string) => configSchema.safeParse({ service: 'orders', policy: { file: 'p' }, grpc: { address } }).success;
    assert.equal(config('[::1]:9191'), true);
    assert.equal(config('localhost:0'), true);
    assert.equal(config('9191'), false);
    assert.equal(config('http://127.0.0.1:9191'), false);
  });
});
