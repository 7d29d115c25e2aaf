import { describe, it } from 'node:test';
import { runQuick } from '../fuzz/properties.js';

/* Quick run of the document fuzzers: load, or one line `FILE[:LINE:COLUMN]: FIELD: REASON`, never anything else. */
describe('fuzz: policy and config documents', () => {
  it('mutated policies compile or fail with a one-line DocumentError', (t) => runQuick('documents/policy', (m) => t.diagnostic(m)));
  it('mutated configs load or fail with a one-line DocumentError', (t) => runQuick('documents/config', (m) => t.diagnostic(m)));
});
