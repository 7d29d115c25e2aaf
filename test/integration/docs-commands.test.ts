import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { AUTHZCTL_BIN, EXAMPLES, ROOT } from '../../testkit/paths.js';
import { startSidecar, type SidecarProcess } from '../../testkit/sidecar.js';
import { anchorsOf, fencedBlocks, linksOf, shellBlock, unmatchedExpectation, type ShellBlock } from '../../testkit/doc-blocks.js';
import { blockScript, excerpt, expectedExit, runBash, splitSteps } from '../../testkit/doc-run.js';

/**
 * Every command in the docs that can run here, runs here: the fenced `sh` blocks of the
 * README, CONTRIBUTING, docs/ and the deploy/k8s READMEs, against the built project and a
 * sidecar started on the example config as `npm start` would. A block is skipped only when
 * its first line says `# illustrative: <why>`. Conventions: CONTRIBUTING.md, "Commands in
 * the docs are tested"; parsing: testkit/doc-blocks.ts, running: testkit/doc-run.ts.
 *
 * One liberty, because the documented ports may be taken on a shared machine: the sidecar
 * listens on free ports, `authzctl check` without --address is pointed at it, and the
 * documented addresses 127.0.0.1:9191/9192 in a command are replaced by the real ones. A
 * test below pins that those are the example config's and authzctl's defaults.
 */

const DOCUMENTED_GRPC = '127.0.0.1:9191';
const DOCUMENTED_ADMIN = '127.0.0.1:9192';
/** Fences that look like shell but would escape this test. */
const SHELL_LOOKALIKES = new Set(['bash', 'shell', 'console', 'zsh', 'shell-session', 'sh-session', 'terminal']);
const BLOCK_TIMEOUT_MS = 20_000;

function markdownFiles(): string[] {
  const files = ['README.md', 'CONTRIBUTING.md', 'k8s/README.md'];
  for (const dir of readdirSync(join(ROOT, 'deploy'))) files.push(`deploy/${dir}/README.md`);
  const walk = (dir: string): void => {
    for (const name of readdirSync(join(ROOT, dir))) {
      const path = `${dir}/${name}`;
      if (statSync(join(ROOT, path)).isDirectory()) walk(path);
      else if (name.endsWith('.md')) files.push(path);
    }
  };
  walk('docs');
  return files.filter((file) => existsSync(join(ROOT, file))).sort();
}

interface DocBlock {
  readonly file: string;
  readonly line: number;
  readonly block: ShellBlock;
}

const FILES = markdownFiles();
const TEXT = new Map(FILES.map((file) => [file, readFileSync(join(ROOT, file), 'utf8')]));
const BLOCKS: DocBlock[] = [];
const MALFORMED: string[] = [];
const LOOKALIKES: string[] = [];
for (const file of FILES) {
  for (const fenced of fencedBlocks(TEXT.get(file)!)) {
    if (SHELL_LOOKALIKES.has(fenced.lang)) LOOKALIKES.push(`${file}:${fenced.line}: \`\`\`${fenced.lang}`);
    if (fenced.lang !== 'sh') continue;
    try {
      BLOCKS.push({ file, line: fenced.line, block: shellBlock(fenced) });
    } catch (error) {
      MALFORMED.push(`${file}: ${(error as Error).message}`);
    }
  }
}
const RUNNABLE = BLOCKS.filter((b) => b.block.illustrative === null);

function commandOnPath(name: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, name)));
}

describe('docs: the shell blocks follow the convention', () => {
  it('uses ```sh for commands, never a fence this test would not see', () => {
    assert.deepEqual(LOOKALIKES, [], 'write these fences as ```sh (marked "# illustrative: …" when they cannot run here)');
  });

  it('marks illustrative blocks on their first line, with a reason', () => {
    assert.deepEqual(MALFORMED, []);
  });

  it('has runnable blocks, the README walk-through among them', () => {
    assert.ok(RUNNABLE.length >= 5, `only ${RUNNABLE.length} runnable blocks found in ${FILES.join(', ')}`);
    const walkThrough = RUNNABLE.find((b) => b.file === 'README.md' && b.block.steps.some((s) => s.command.includes('authzctl token mint')));
    assert.ok(walkThrough, 'the README walk-through (token mint, check) must be a runnable block');
    for (const { file, line, block } of RUNNABLE) assert.ok(block.steps.length > 0, `${file}:${line}: a runnable sh block without a command`);
  });

  it('documents the addresses the example config and authzctl default to', async () => {
    const config = parseYaml(readFileSync(join(EXAMPLES, 'config.yaml'), 'utf8')) as { grpc: { address: string }; admin: { address: string } };
    assert.equal(config.grpc.address, DOCUMENTED_GRPC);
    assert.equal(config.admin.address, DOCUMENTED_ADMIN);
    const help = await new Promise<string>((done) =>
      execFile(process.execPath, [AUTHZCTL_BIN, 'check', '--help'], { cwd: ROOT }, (_error, stdout) => done(stdout)),
    );
    assert.match(help, new RegExp(`--address HOST:PORT .*\\(default ${DOCUMENTED_GRPC.replaceAll('.', '\\.')}\\)`));
  });

  it('puts bin/ (authzctl, authz-sidecar) on the PATH before the walk-through uses them', () => {
    const walkThrough = RUNNABLE.find((b) => b.file === 'README.md' && b.block.steps.some((s) => s.command.includes('authzctl token mint')))!;
    const first = walkThrough.block.steps[0].command.trim();
    assert.match(first, /^export PATH="\$PWD\/bin:\$PATH"/, `README.md:${walkThrough.line}: the walk-through starts by putting bin/ on the PATH`);
    assert.ok(
      BLOCKS.every(({ block }) => block.steps.every((s) => !/^alias authzctl=/.test(s.command.trim()))),
      'no alias: scripts ignore aliases',
    );
    // What the docs' `authzctl` and `authz-sidecar` run is what bin/ holds: executable, and the build's.
    const run = spawnSync('bash', ['--noprofile', '--norc', '-c', 'export PATH="$PWD/bin:$PATH"; authzctl --version && authz-sidecar --version'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
    });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^authzctl \d+\.\d+\.\d+\nauthz-sidecar \d+\.\d+\.\d+\n$/);
  });
});

describe('docs: every runnable sh block runs', () => {
  let sidecar: SidecarProcess;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    sidecar = await startSidecar(join(EXAMPLES, 'config.yaml'));
    env = {
      ...process.env,
      PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
      NO_COLOR: '1',
      AUTHZ_DOCS_ROOT: ROOT,
      AUTHZ_DOCS_CLI: `${ROOT}bin/authzctl`,
      AUTHZ_DOCS_GRPC: sidecar.grpcAddress,
    };
    // Nothing from the caller's environment may steer a documented command elsewhere.
    for (const name of ['AUTHZ_CONFIG', 'AUTHZ_GRPC_ADDRESS', 'AUTHZ_ADMIN_ADDRESS', 'AUTHZ_NATS_URL', 'AUTHZ_SIGNING_KEY']) delete env[name];
  });
  after(async () => {
    assert.equal(await sidecar?.stop(), 0);
  });

  for (const { file, line, block } of BLOCKS) {
    const name = `${file}:${line} (${block.steps.length} command${block.steps.length === 1 ? '' : 's'})`;
    if (block.illustrative !== null) {
      it(name, { skip: `illustrative: ${block.illustrative}` }, () => {});
      continue;
    }
    it(name, async (t) => {
      if (block.steps.some((s) => /(^|[\s|;&(])curl\s/.test(s.command)) && !commandOnPath('curl')) {
        t.skip('curl is not installed');
        return;
      }
      const admin = new URL(sidecar.adminUrl).host;
      const rewrite = (command: string) => command.replaceAll(DOCUMENTED_GRPC, sidecar.grpcAddress).replaceAll(DOCUMENTED_ADMIN, admin);
      const run = await runBash(blockScript(block.steps, rewrite), { cwd: ROOT, env, timeoutMs: BLOCK_TIMEOUT_MS });
      assert.ok(!run.timedOut, `${file}:${line}: the block did not finish within ${BLOCK_TIMEOUT_MS} ms\n${excerpt(run.stdout + run.stderr)}`);
      const steps = splitSteps(run.stdout, block.steps.length);
      block.steps.forEach((step, i) => {
        const got = steps[i];
        const where = `${file}:${step.line}: ${step.command}`;
        assert.equal(
          got.code,
          expectedExit(step),
          `${where}\nexit status ${got.code}, expected ${expectedExit(step)}; output:\n${excerpt(got.output + run.stderr)}`,
        );
        const missing = unmatchedExpectation(got.output, step.expected);
        assert.equal(missing, null, `${where}\n${missing}; output:\n${excerpt(got.output)}`);
      });
    });
  }
});

describe('docs: relative links and anchors resolve', () => {
  for (const file of FILES) {
    it(file, () => {
      const broken: string[] = [];
      for (const { target, line } of linksOf(TEXT.get(file)!)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
        const [path, anchor] = target.split('#', 2) as [string, string | undefined];
        const resolved = path === '' ? join(ROOT, file) : resolve(ROOT, dirname(file), path);
        const shown = `${file}:${line}: ${target}`;
        if (!existsSync(resolved)) {
          broken.push(`${shown} (no ${relative(ROOT, resolved)})`);
          continue;
        }
        if (anchor !== undefined && resolved.endsWith('.md') && !anchorsOf(readFileSync(resolved, 'utf8')).has(anchor)) {
          broken.push(`${shown} (no heading with anchor #${anchor})`);
        }
      }
      assert.deepEqual(broken, []);
    });
  }
});
