import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { shellBlock, unmatchedExpectation, type FencedBlock } from '../../testkit/doc-blocks.js';

const block = (...body: string[]): FencedBlock => ({ lang: 'sh', line: 10, body });

describe('shellBlock', () => {
  it('splits commands, joins continuation lines and attaches the # lines right under a command', () => {
    const { illustrative, steps } = shellBlock(block('# prose', 'echo a \\', '  b', '# a b', '', '# more prose', 'true'));
    assert.equal(illustrative, null);
    assert.deepEqual(steps, [
      { command: 'echo a \\\n  b', line: 12, expected: ['a b'] },
      { command: 'true', line: 17, expected: [] },
    ]);
  });

  it('keeps a here-document in its command, # lines and blank lines included, up to the delimiter', () => {
    const { steps } = shellBlock(block(`cat >f.yaml <<'EOF'`, 'a: 1   # not output', '', '# nor this', 'EOF', '# out', 'echo done'));
    assert.deepEqual(steps, [
      { command: `cat >f.yaml <<'EOF'\na: 1   # not output\n\n# nor this\nEOF`, line: 11, expected: ['out'] },
      { command: 'echo done', line: 17, expected: [] },
    ]);
    for (const opener of ['cat <<EOF', 'cat << "EOF"', 'cat <<-EOF'])
      assert.equal(shellBlock(block(opener, 'x', opener.includes('-') ? '\tEOF' : 'EOF')).steps.length, 1, opener);
  });

  it('does not take a here-string or a shift for a here-document, and refuses an unterminated one', () => {
    assert.equal(shellBlock(block('cat <<<EOF', 'echo $((1 << 2))')).steps.length, 2);
    assert.throws(() => shellBlock(block('cat <<EOF', 'x')), /line 11: here-document without its closing "EOF" line/);
  });

  it('reads the illustrative marker only on the first line, and requires a reason', () => {
    assert.equal(shellBlock(block('# illustrative: needs a cluster', 'kubectl apply -k x')).illustrative, 'needs a cluster');
    assert.throws(() => shellBlock(block('# illustrative:', 'x')), /needs a reason/);
    assert.throws(() => shellBlock(block('x', '# illustrative: late')), /must be the block's first line/);
  });
});

describe('unmatchedExpectation', () => {
  it('matches whole lines in order, runs of spaces as one, … as anything', () => {
    const output = 'SERVICE  INSTANCE\norders   orders-1  keys 1/1\n\n1 of 1 expected sidecar answered\n';
    assert.equal(unmatchedExpectation(output, ['orders orders-1 …', '1 of 1 expected sidecar answered']), null);
    assert.match(unmatchedExpectation(output, ['1 of 1 expected sidecar answered', 'orders …'])!, /after the lines already matched/);
    assert.match(unmatchedExpectation(output, ['orders'])!, /expected a line "orders"/);
  });
});
