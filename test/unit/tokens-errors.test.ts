import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenError } from '../../src/tokens/errors.js';

test('a TokenError carries its code and message but no stack frames, and leaves Error.stackTraceLimit as it was', () => {
  const before = Error.stackTraceLimit;
  const cause = new Error('inner');
  const error = new TokenError('token_expired', 'token has expired', { cause, issuerName: 'idp' });
  assert.equal(Error.stackTraceLimit, before);
  assert.equal(error.code, 'token_expired');
  assert.equal(error.issuerName, 'idp');
  assert.equal(error.cause, cause);
  assert.ok(error instanceof Error);
  assert.equal(error.stack, 'TokenError: token has expired');
  assert.match(new Error('plain').stack ?? '', /\n\s+at /, 'other errors still capture their stack');
});
