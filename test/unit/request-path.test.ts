import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { normalizePath, RequestError, type RequestErrorCode } from '../../src/request/index.js';

function path(raw: string): string {
  return normalizePath(raw).path;
}

function rejects(raw: string, code: RequestErrorCode, maxLength?: number): void {
  assert.throws(
    () => normalizePath(raw, { maxLength }),
    (error: unknown) => error instanceof RequestError && error.code === code,
    `${JSON.stringify(raw)} should be rejected with ${code}`,
  );
}

describe('normalizePath: dot-segments and slashes', () => {
  const cases: Array<[string, string]> = [
    ['/', '/'],
    ['/admin', '/admin'],
    ['/public/../admin', '/admin'],
    ['/public/%2e%2e/admin', '/admin'],
    ['/public/.%2E/admin', '/admin'],
    ['/a/./b', '/a/b'],
    ['/a/%2e/b', '/a/b'],
    ['//admin', '/admin'],
    ['/a//b///c', '/a/b/c'],
    ['/a/', '/a/'],
    ['/a//', '/a/'],
    ['/a/b/..', '/a/'],
    ['/a/.', '/a/'],
    ['/a/..', '/'],
    ['/./', '/'],
    ['/...', '/...'],
    ['/a/..b/c', '/a/..b/c'],
  ];
  for (const [raw, expected] of cases) {
    it(`${raw} -> ${expected}`, () => assert.equal(path(raw), expected));
  }

  it('rejects dot-segments above root', () => {
    rejects('/..', 'path_traversal');
    rejects('/../admin', 'path_traversal');
    rejects('/a/../..', 'path_traversal');
    rejects('/a/%2E%2e/..', 'path_traversal');
    rejects('/%2e%2e/admin', 'path_traversal');
    rejects('//../admin', 'path_traversal');
  });
});

describe('normalizePath: percent-escapes', () => {
  it('decodes unreserved characters only', () => {
    assert.equal(path('/%41dmin'), '/Admin');
    assert.equal(path('/%7e'), '/~');
    assert.equal(path('/%7E%2d%5f%30z'), '/~-_0z');
  });

  it('keeps other escapes with upper-case hex', () => {
    assert.equal(path('/a%3ab'), '/a%3Ab');
    assert.equal(path('/caf%c3%a9'), '/caf%C3%A9');
    assert.equal(path('/a%20b'), '/a%20b');
    assert.equal(path('/a%3fb'), '/a%3Fb');
  });

  it('rejects an escaped "%" that forms another escape, in any spelling', () => {
    for (const raw of [
      '/public/%252e%252e/admin', // a second decode gives "/public/../admin"
      '/public/%252E%252E/admin',
      '/public/%252f..%252fadmin',
      '/public/..%252Fadmin',
      '/public/..%255cadmin',
      '/admin%253b/x',
      '/public/%25%32%65%25%32%65/admin', // "%32" and "%65" are unreserved: decoded, they make "%252e"
      '/public/%25%32%45',
      '/public/%25252e', // triple encoding
      '/public/%2525',
      '/api/%2569nternal', // not a separator, but still another path after a second decode
      '/a/%2500',
      '/100%2541',
    ]) {
      rejects(raw, 'double_encoded_path');
    }
  });

  it('checks a segment for double encoding before ".." removes it', () => {
    rejects('/public/%252e%252e/../x', 'double_encoded_path');
    rejects('/a/%252f/..', 'double_encoded_path');
  });

  it('keeps an escaped "%" that no second decode can turn into an escape', () => {
    assert.equal(path('/files/100%25'), '/files/100%25');
    assert.equal(path('/files/100%25/'), '/files/100%25/');
    assert.equal(path('/a%25zz'), '/a%25zz');
    assert.equal(path('/a%252'), '/a%252');
    assert.equal(path('/a%252z'), '/a%252z');
    assert.equal(path('/a%25/2e'), '/a%25/2e');
    assert.equal(path('/a%25%20b'), '/a%25%20b');
    assert.equal(path('/a%25%3Ab'), '/a%25%3Ab');
    assert.equal(path('/a%25-%25'), '/a%25-%25');
  });

  it('rejects encoded separators and a literal backslash', () => {
    rejects('/%2fadmin', 'encoded_separator');
    rejects('/a%2Fb', 'encoded_separator');
    rejects('/a%5cb', 'encoded_separator');
    rejects('/a%5Cb', 'encoded_separator');
    rejects('/a\\b', 'encoded_separator');
    rejects('/..\\admin', 'encoded_separator');
  });

  it('rejects malformed escapes', () => {
    rejects('/%', 'invalid_path');
    rejects('/a%', 'invalid_path');
    rejects('/%4', 'invalid_path');
    rejects('/%G1', 'invalid_path');
    rejects('/%1G', 'invalid_path');
    rejects('/%4?x=1', 'invalid_path');
  });

  it('rejects NUL and control characters, literal or encoded', () => {
    rejects('/a\0b', 'invalid_path');
    rejects('/a%00b', 'invalid_path');
    rejects('/a%0ab', 'invalid_path');
    rejects('/a\tb', 'invalid_path');
    rejects('/a\x7fb', 'invalid_path');
    rejects('/a%7Fb', 'invalid_path');
    rejects('/a b', 'invalid_path');
  });

  it('rejects non-ASCII characters', () => {
    rejects('/café', 'invalid_path');
    rejects('/\u212Admin', 'invalid_path');
  });
});

describe('normalizePath: path parameters and shape', () => {
  it('rejects ";" literal or encoded', () => {
    rejects('/admin..;/x', 'path_parameters');
    rejects('/a;jsessionid=1', 'path_parameters');
    rejects('/admin%3b/x', 'path_parameters');
  });

  it('allows ";" in the query', () => {
    assert.deepEqual({ ...normalizePath('/a?x=1;2').query }, { x: '1;2' });
  });

  it('requires origin-form', () => {
    rejects('', 'invalid_path');
    rejects('admin', 'invalid_path');
    rejects('*', 'invalid_path');
    rejects('http://evil/admin', 'invalid_path');
    rejects('?a=1', 'invalid_path');
  });

  it('limits the length of the path but not the query', () => {
    const long = '/' + 'a'.repeat(4095);
    assert.equal(path(long), long);
    rejects(long + 'a', 'invalid_path');
    rejects('/abcd', 'invalid_path', 4);
    assert.equal(normalizePath('/abc?' + 'q'.repeat(10_000), { maxLength: 4 }).path, '/abc');
  });
});

describe('normalizePath: query and fragment', () => {
  it('splits off query and fragment', () => {
    const result = normalizePath('/a/../b?x=1#frag');
    assert.equal(result.path, '/b');
    assert.deepEqual({ ...result.query }, { x: '1' });
    assert.equal(path('/a#x?y=/../..'), '/a');
    assert.deepEqual({ ...normalizePath('/a#x?y=1').query }, {});
  });

  it('decodes "+" and percent-escapes', () => {
    const { query } = normalizePath('/s?q=hello+world&name=J%C3%BCrgen&e=a%26b%3Dc&k%20ey=v');
    assert.deepEqual({ ...query }, { q: 'hello world', name: 'Jürgen', e: 'a&b=c', 'k ey': 'v' });
  });

  it('keeps the raw text when an escape is bad, never throws', () => {
    const { query } = normalizePath('/s?a=%E0%A4%A&b=%&c=100%25&d=%zz');
    assert.deepEqual({ ...query }, { a: '%E0%A4%A', b: '%', c: '100%', d: '%zz' });
  });

  it('keeps the first value of a repeated key', () => {
    assert.deepEqual({ ...normalizePath('/s?role=user&role=admin').query }, { role: 'user' });
  });

  it('handles keys without values and empty parts', () => {
    const { query } = normalizePath('/s?&flag&&x=&=y&z=1=2');
    assert.deepEqual({ ...query }, { flag: '', x: '', '': 'y', z: '1=2' });
  });

  it('treats __proto__ and constructor as ordinary keys', () => {
    const { query } = normalizePath('/s?__proto__=x&constructor=y&toString=z');
    assert.equal(Object.getPrototypeOf(query), null);
    assert.equal(query['__proto__'], 'x');
    assert.equal(query['constructor'], 'y');
    assert.deepEqual(Object.keys(query), ['__proto__', 'constructor', 'toString']);
    assert.equal(({} as Record<string, unknown>)['x'], undefined);
  });

  it('returns an empty null-prototype query when there is none', () => {
    const { query } = normalizePath('/a');
    assert.equal(Object.getPrototypeOf(query), null);
    assert.deepEqual(Object.keys(query), []);
    assert.equal('toString' in query, false);
  });

  it('does not let the query affect path checks', () => {
    assert.equal(path('/a?next=/../..%2f;\\'), '/a');
  });
});
