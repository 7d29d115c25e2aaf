import { after, describe, it } from 'node:test';
import { closeShared, runQuick } from '../fuzz/properties.js';

/*
 * Quick run of the CheckRequest fuzzers (in-process: the server's decoder, the Check handler
 * and the encoder, answers read back with Envoy's protos). `npm run fuzz` runs the same
 * properties for a million cases; FUZZ_SEED replays a failure's seed.
 */
describe('fuzz: CheckRequests through the in-process pipeline', () => {
  after(closeShared);
  it('structured Envoy requests (every header shape, huge counts, odd paths, missing sub-messages) get a well-formed answer, never an unjustified allow', (t) =>
    runQuick('check-request/structured', (m) => t.diagnostic(m)));
  it('requests with a known answer get exactly that answer (no token / valid / mutated, each path and method)', (t) =>
    runQuick('check-request/exact-decisions', (m) => t.diagnostic(m)));
  it('byte-mutated encodings are refused by the decoder or answered well-formed, never an unjustified allow', (t) =>
    runQuick('check-request/mutated-bytes', (m) => t.diagnostic(m)));
  it('random bytes are refused by the decoder or answered well-formed', (t) => runQuick('check-request/random-bytes', (m) => t.diagnostic(m)));
});
