import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RequestView } from '../../src/request/types.js';
import type { TokenSource } from '../../src/config/schema.js';
import { extractToken, findTokens, TokenError, type TokenErrorCode } from '../../src/tokens/index.js';

function view(headers: Record<string, string>, repeated: string[] = []): RequestView {
  return {
    id: 'r1',
    method: 'GET',
    host: 'h',
    path: '/',
    rawPath: '/',
    query: {},
    headers,
    repeatedHeaders: new Set(repeated),
    sourceAddress: '',
    sourcePrincipal: '',
    contextExtensions: {},
  };
}

const BEARER: TokenSource = { header: 'authorization', prefix: 'Bearer ' };
const COOKIE: TokenSource = { cookie: 'access_token' };
const TOKEN = 'eyJh.eyJi.c2ln';

function refused(v: RequestView, source: TokenSource | TokenSource[], code: TokenErrorCode): void {
  assert.throws(
    () => (Array.isArray(source) ? findTokens(v, source) : extractToken(v, source)),
    (e: unknown) => e instanceof TokenError && e.code === code && !e.message.includes(TOKEN),
  );
}

describe('extractToken: Authorization', () => {
  it('takes the token after the scheme, case-insensitively, after one or more spaces', () => {
    for (const value of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `BEARER   ${TOKEN}`, ` Bearer ${TOKEN} `])
      assert.equal(extractToken(view({ authorization: value }), BEARER), TOKEN, value);
  });

  it('is absent when the header is absent', () => {
    assert.equal(extractToken(view({}), BEARER), null);
  });

  it('refuses another scheme, an empty credential, and more than one word', () => {
    for (const value of [`Basic ${TOKEN}`, `Bearer`, 'Bearer ', '', `Bearer${TOKEN}`, `Bearer\t${TOKEN}`, `Bearer ${TOKEN} extra`, `Token ${TOKEN}`])
      refused(view({ authorization: value }), BEARER, 'credentials_malformed');
  });

  it('refuses two credentials joined into one value, and a repeated header', () => {
    refused(view({ authorization: `Bearer ${TOKEN}, Bearer ${TOKEN}` }), BEARER, 'credentials_duplicated');
    refused(view({ authorization: `Bearer ${TOKEN},x` }), BEARER, 'credentials_duplicated');
    refused(view({ authorization: `Bearer ${TOKEN}` }, ['authorization']), BEARER, 'credentials_duplicated');
  });

  it('matches a literal prefix exactly, and the whole value without prefix', () => {
    assert.equal(extractToken(view({ 'x-token': `tok:${TOKEN}` }), { header: 'x-token', prefix: 'tok:' }), TOKEN);
    refused(view({ 'x-token': `TOK:${TOKEN}` }), { header: 'x-token', prefix: 'tok:' }, 'credentials_malformed');
    assert.equal(extractToken(view({ 'x-service-token': TOKEN }), { header: 'x-service-token' }), TOKEN);
    refused(view({ 'x-service-token': `Bearer ${TOKEN}` }), { header: 'x-service-token' }, 'credentials_malformed');
    refused(view({ 'x-service-token': `${TOKEN},${TOKEN}` }), { header: 'x-service-token' }, 'credentials_duplicated');
  });

  it('tries the schemes of every source on the same header', () => {
    const sources: TokenSource[] = [BEARER, { header: 'authorization', prefix: 'DPoP ' }];
    assert.equal(findTokens(view({ authorization: `dpop ${TOKEN}` }), sources)[0]?.source, sources[1]);
    assert.equal(findTokens(view({ authorization: `Bearer ${TOKEN}` }), sources)[0]?.source, sources[0]);
    refused(view({ authorization: `Basic ${TOKEN}` }), sources, 'credentials_malformed');
  });
});

describe('extractToken: cookies', () => {
  it('finds the cookie among others, quoted or not', () => {
    assert.equal(extractToken(view({ cookie: `a=1; access_token=${TOKEN}; b=2` }), COOKIE), TOKEN);
    assert.equal(extractToken(view({ cookie: `access_token="${TOKEN}"` }), COOKIE), TOKEN);
    assert.equal(extractToken(view({ cookie: 'a=1; access_token_2=x' }), COOKIE), null);
    assert.equal(extractToken(view({}), COOKIE), null);
  });

  it('reads cookie headers that HTTP/2 split and the view joined with ","', () => {
    assert.equal(extractToken(view({ cookie: `a=1,access_token=${TOKEN}` }, ['cookie']), COOKIE), TOKEN);
  });

  it('refuses the same cookie twice, even across split headers', () => {
    refused(view({ cookie: `access_token=${TOKEN}; access_token=${TOKEN}` }), COOKIE, 'credentials_duplicated');
    refused(view({ cookie: `access_token=${TOKEN},access_token=` }, ['cookie']), COOKIE, 'credentials_duplicated');
  });

  it('refuses an empty cookie value', () => {
    refused(view({ cookie: 'access_token=; a=1' }), COOKIE, 'credentials_malformed');
    refused(view({ cookie: 'access_token=""' }), COOKIE, 'credentials_malformed');
  });
});

describe('findTokens', () => {
  it('returns one entry per source that carries a token', () => {
    const found = findTokens(view({ authorization: `Bearer ${TOKEN}`, cookie: `access_token=${TOKEN}` }), [BEARER, COOKIE]);
    assert.deepEqual(
      found.map((f) => f.source),
      [BEARER, COOKIE],
    );
  });
});
