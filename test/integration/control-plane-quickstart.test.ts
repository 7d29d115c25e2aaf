import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fencedBlocks, shellBlock, unmatchedExpectation, type ShellBlock } from '../../testkit/doc-blocks.js';
import { blockScript, excerpt, expectedExit, groupAlive, killGroup, runBash, splitSteps, type BashRun, type StepRun } from '../../testkit/doc-run.js';
import { freePort, NATS_SERVER_BIN } from '../../testkit/nats-server.js';
import { ROOT } from '../../testkit/paths.js';

/**
 * The quickstart that opens docs/control-plane.md, run as written: its first `sh` block, in one
 * bash, step by step, each step's exit status and `#` lines checked as docs-commands.test.ts
 * checks every runnable block (testkit/doc-run.ts, the same prelude and rules). That test skips
 * the block (its `# illustrative:` line names this file) because its model does not fit: the
 * quickstart starts its own nats-server and sidecar in the background, on the very addresses
 * docs-commands.test.ts points at its shared sidecar, and runs longer than its 20 s per block.
 *
 * The liberties, as docs-commands.test.ts takes them, because the documented ports may be taken
 * (a developer's `npm start`, a NATS on 4222, a parallel test run):
 * - every whole-word 4222 (NATS), 9191 (the sidecar's gRPC) and 9192 (its admin port) in the
 *   block, here-document included, is replaced by a free port, and the block may name no other
 *   127.0.0.1 port;
 * - `authzctl check` without --address is pointed at that gRPC port, as the docs' `authzctl`
 *   function does (it would reach the same sidecar on 127.0.0.1:9191 anyway).
 * The block must stop everything it started: the test fails, and kills them, if any process
 * of the shell's process group outlives it, or its temp dir is left behind.
 */

const FILE = 'docs/control-plane.md';
const DOCUMENTED_PORTS = { nats: 4222, grpc: 9191, admin: 9192 } as const;
const TIMEOUT_MS = 90_000;

function quickstart(): { line: number; block: ShellBlock } {
  const blocks = fencedBlocks(readFileSync(join(ROOT, FILE), 'utf8')).filter((b) => b.lang === 'sh');
  assert.ok(blocks.length > 0, `${FILE} has no sh block`);
  return { line: blocks[0].line, block: shellBlock(blocks[0]) };
}

function onPath(name: string, path: string): boolean {
  return path.split(':').some((dir) => dir !== '' && existsSync(join(dir, name)));
}

const PATH = [dirname(process.execPath), dirname(NATS_SERVER_BIN), process.env.PATH ?? ''].join(':');
const missing = ['curl', 'nats-server'].filter((tool) => !onPath(tool, PATH));

describe(`${FILE}: the quickstart runs as written`, { skip: missing.length > 0 ? `${missing.join(' and ')} not on PATH` : false }, () => {
  const { line, block } = quickstart();
  let ports: Record<keyof typeof DOCUMENTED_PORTS, number>;
  let run: BashRun;
  let steps: StepRun[];
  let leftOver = false;

  before(async () => {
    const taken = new Set<number>();
    while (taken.size < 3) taken.add(await freePort());
    const [nats, grpc, admin] = [...taken];
    ports = { nats, grpc, admin };
    const rewrite = (command: string) =>
      command
        .replace(new RegExp(`\\b${DOCUMENTED_PORTS.nats}\\b`, 'g'), String(ports.nats))
        .replace(new RegExp(`\\b${DOCUMENTED_PORTS.grpc}\\b`, 'g'), String(ports.grpc))
        .replace(new RegExp(`\\b${DOCUMENTED_PORTS.admin}\\b`, 'g'), String(ports.admin));
    const env: NodeJS.ProcessEnv = {
      ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AUTHZ_'))),
      PATH,
      NO_COLOR: '1',
      AUTHZ_DOCS_ROOT: ROOT,
      AUTHZ_DOCS_CLI: `${ROOT}bin/authzctl`,
      AUTHZ_DOCS_GRPC: `127.0.0.1:${ports.grpc}`,
    };
    run = await runBash(blockScript(block.steps, rewrite), { cwd: ROOT, env, timeoutMs: TIMEOUT_MS, afterExitMs: 2_000 });
    steps = splitSteps(run.stdout, block.steps.length);
    // The shell has exited; whatever is left in its group, the block failed to stop.
    leftOver = groupAlive(run.pgid);
  });

  after(() => {
    if (run !== undefined) killGroup(run.pgid);
  });

  it('opens the page, and is skipped by docs-commands.test.ts only because this test runs it', () => {
    const text = readFileSync(join(ROOT, FILE), 'utf8').split('\n');
    const headings = text.slice(0, line - 1).filter((l) => /^#{1,6} /.test(l));
    assert.deepEqual(headings, ['# Control plane (NATS JetStream)', '## Quickstart'], 'the quickstart is the first section of the page');
    assert.match(block.illustrative ?? '', /test\/integration\/control-plane-quickstart\.test\.ts runs this block as written/);
    assert.match(block.steps[0].command, /^export PATH="\$PWD\/bin:\$PATH"$/);
  });

  it('names NATS and the sidecar on the documented ports only, so the test can move them', () => {
    const text = block.steps.map((s) => s.command).join('\n');
    for (const port of Object.values(DOCUMENTED_PORTS)) assert.match(text, new RegExp(`127\\.0\\.0\\.1:${port}\\b|--port ${port}\\b`));
    const documented = new Set<number>(Object.values(DOCUMENTED_PORTS));
    const others = [...text.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1])).filter((port) => !documented.has(port));
    assert.deepEqual(others, []);
  });

  it(`finishes within ${TIMEOUT_MS / 1000} s`, () => {
    assert.ok(!run.timedOut, `the block did not finish within ${TIMEOUT_MS} ms\n${excerpt(run.stdout + run.stderr)}`);
  });

  for (const [i, step] of block.steps.entries()) {
    it(`${FILE}:${step.line}: ${step.command.split('\n')[0].replace(/\s*\\$/, ' …')}`, () => {
      const got = steps[i];
      assert.equal(got.code, expectedExit(step), `exit status ${got.code}, expected ${expectedExit(step)}; output:\n${excerpt(got.output + run.stderr)}`);
      const notFound = unmatchedExpectation(got.output, step.expected);
      assert.equal(notFound, null, `${notFound}; output:\n${excerpt(got.output)}`);
    });
  }

  it('stops every process it started and removes its temp dir', () => {
    assert.equal(leftOver, false, 'a process the block started was still running after it (killed now)');
    const keygen = block.steps.findIndex((s) => /^authzctl keygen /.test(s.command));
    const written = /^private key \(.*\): (.+)\/cp\.jwk\.json$/m.exec(steps[keygen]?.output ?? '');
    assert.ok(written, `keygen printed no key path:\n${steps[keygen]?.output}`);
    assert.ok(!existsSync(written[1]), `${written[1]} is left behind`);
  });
});
