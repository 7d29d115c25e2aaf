import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeShared, runQuick } from '../fuzz/properties.js';

/* Quick run of the token fuzzers: ES256, RS256, EdDSA and HS256 issuers through the real authenticator and jose. */
describe('fuzz: tokens', () => {
  after(closeShared);
  it('no token whose bytes differ from a valid one is ever accepted (bit flips, segment swaps, base64 and JSON oddities, lengths)', (t) =>
    runQuick('tokens/forged', (m) => t.diagnostic(m)));
  it('re-signed tokens with JSON oddities are refused exactly when the JOSE/JWT rules say so', (t) => runQuick('tokens/resigned-json', (m) => t.diagnostic(m)));
});

describe('fuzz findings kept as examples: one token, one spelling', () => {
  after(closeShared);
  it('every other spelling of a segment (unused trailing bits, padding, standard base64) is refused as token_malformed, for every algorithm', async () => {
    const { startTokenWorld } = await import('../fuzz/tokens.js');
    const world = await startTokenWorld();
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    let tried = 0;
    try {
      for (const issuer of world.issuers) {
        const parts = issuer.token.split('.');
        for (let s = 0; s < 3; s++) {
          const segment = parts[s];
          const bytes = Buffer.from(segment, 'base64url');
          const spellings = [`${segment}=`, `${segment}==`, bytes.toString('base64')];
          // Same bytes, other last character: only possible when the length leaves unused bits.
          for (const c of alphabet) {
            const other = segment.slice(0, -1) + c;
            if (other !== segment && Buffer.from(other, 'base64url').equals(bytes)) spellings.push(other);
          }
          for (const spelling of spellings.filter((x) => x !== segment)) {
            const token = parts.map((p, i) => (i === s ? spelling : p)).join('.');
            assert.equal(await world.authenticate(token), 'token_malformed', `${issuer.alg} segment ${s} spelled ${spelling.slice(-6)}`);
            tried++;
          }
        }
        assert.equal(await world.authenticate(issuer.token), 'accepted');
      }
      assert.ok(tried >= 40, `only ${tried} spellings tried`);
    } finally {
      world.close();
    }
  });
});
