import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decisionId } from '../../src/grpc/decision-id.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('decisionId', () => {
  it('is a version 4 UUID, distinct across many pool refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5_000; i++) {
      const id = decisionId();
      assert.match(id, UUID_V4);
      seen.add(id);
    }
    assert.equal(seen.size, 5_000);
  });

  it('uses every hex digit in every random position (the bytes are random, not a counter)', () => {
    const digits = Array.from({ length: 36 }, () => new Set<string>());
    for (let i = 0; i < 2_000; i++) [...decisionId()].forEach((c, k) => digits[k].add(c));
    for (const k of [0, 9, 16, 24, 35]) assert.equal(digits[k].size, 16, `position ${k}`);
    assert.deepEqual([...digits[14]], ['4']);
    assert.deepEqual([...digits[19]].sort(), ['8', '9', 'a', 'b']);
  });
});
