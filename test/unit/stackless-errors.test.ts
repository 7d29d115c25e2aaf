import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RequestError } from '../../src/request/errors.js';
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

test('a RequestError too: code, request id and message, no stack frames', () => {
  const error = new RequestError('path_traversal', 'path climbs above the root', { requestId: 'r-1' }).withRequestId('r-2');
  assert.equal(error.code, 'path_traversal');
  assert.equal(error.requestId, 'r-2');
  assert.equal(error.status, 400);
  assert.equal(error.stack, 'RequestError: path climbs above the root');
});
