import { after, describe, it } from 'node:test';
import { closeShared, runQuick } from './properties.js';

/* Quick run of the token fuzzers: ES256, RS256, EdDSA and HS256 issuers through the real authenticator and jose. */
describe('fuzz: tokens', () => {
  after(closeShared);
  it('no token whose bytes differ from a valid one is ever accepted (bit flips, segment swaps, base64 and JSON oddities, lengths)', (t) => runQuick('tokens/forged', (m) => t.diagnostic(m)));
  it('re-signed tokens with JSON oddities are refused exactly when the JOSE/JWT rules say so', (t) => runQuick('tokens/resigned-json', (m) => t.diagnostic(m)));
});
