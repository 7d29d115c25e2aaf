import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ROOT } from '../../testkit/paths.js';

interface DemoRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

const SECTIONS = [
  'authz-sidecar demo',
  '1. NATS JetStream',
  '2. Control-plane signing key',
  '3. Two sidecars',
  '4. Publish the idp key set and both policies',
  '5. Tokens and requests',
  '6. Rotate the idp signing key',
  '7. Clean up',
];

function runDemo(): { child: ChildProcess; done: Promise<DemoRun> } {
  const started = performance.now();
  const child = spawn(process.execPath, ['scripts/demo.mjs'], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<DemoRun>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - started })));
  return { child, done };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `npm run demo` without the build (npm test has built already): the real binaries, end to end. */
describe('npm run demo', () => {
  let demo: ReturnType<typeof runDemo>;
  let run: DemoRun;
  before(async () => {
    demo = runDemo();
    run = await demo.done;
  });
  after(() => {
    // Interrupted test run: SIGINT makes the demo stop what it started and remove its dir.
    if (demo?.child.exitCode === null) demo.child.kill('SIGINT');
  });

  it('exits 0 with every expectation held, in under 30 s', (t) => {
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.doesNotMatch(run.stdout, /✘/);
    assert.match(run.stdout, /^✔ all \d+ expectations held/m);
    assert.ok(run.ms < 30_000, `${run.ms} ms`);
    t.diagnostic(`demo ran in ${(run.ms / 1000).toFixed(1)} s`);
  });

  it('prints each section and the commands it runs', () => {
    for (const section of SECTIONS) assert.ok(run.stdout.includes(section), `section "${section}" missing`);
    for (const command of [
      'keygen',
      'publish keys',
      'publish policy',
      'token mint',
      'check --address',
      'rotate --issuer idp --out',
      'status',
      'rotate --issuer idp --retire',
    ]) {
      assert.match(run.stdout, new RegExp(`^  \\$ (?:\\w+=\\$\\()?authzctl ${command}`, 'm'), `no "$ authzctl ${command}" line`);
    }
  });

  it('shows allows, the 401/403/400 denies and the rotation outcomes', () => {
    for (const outcome of [
      'got ALLOW by read-orders',
      'got 401 credentials_missing',
      'got 403 missing_permission',
      'got 403 missing_scope (insufficient_scope)',
      'got 400 path_traversal',
      'got 401 token_expired (invalid_token)',
      'got ALLOW by orders-creates-charges',
      'got 401 token_key_unknown (invalid_token)',
      '2/2 sidecars converged',
    ]) {
      assert.ok(run.stdout.includes(outcome), `"${outcome}" missing`);
    }
  });

  it('leaves no process it started running and removes its temp dir', () => {
    const pids = /^demo pids: (.*)$/m.exec(run.stdout)?.[1];
    assert.ok(pids !== undefined, 'no "demo pids:" line');
    const started = [...pids.matchAll(/(\S+)=(\d+)/g)].map(([, name, pid]) => ({ name, pid: Number(pid) }));
    assert.deepEqual(started.map((p) => p.name).sort(), ['billing', 'nats-server', 'orders']);
    for (const { name, pid } of started) assert.equal(alive(pid), false, `${name} (pid ${pid}) still running`);

    const dir = /^demo dir: (.+)$/m.exec(run.stdout)?.[1];
    assert.ok(dir, 'no "demo dir:" line');
    assert.equal(existsSync(dir), false, `${dir} still exists`);
  });
});

describe('npm run demo, interrupted (Ctrl-C)', () => {
  it('stops the sidecars and nats-server cleanly, removes its temp dir and exits 130', async () => {
    const demo = runDemo();
    try {
      // Interrupt once the sidecars serve: the moment with the most to clean up.
      const deadline = Date.now() + 20_000;
      let seen = '';
      demo.child.stdout!.on('data', (chunk: Buffer) => (seen += chunk.toString()));
      while (!seen.includes('5. Tokens and requests') && demo.child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      demo.child.kill('SIGINT');
      const run = await demo.done;
      assert.equal(run.code, 130, run.stdout + run.stderr);
      assert.match(run.stdout, /✘ interrupted by SIGINT/);
      assert.match(run.stdout, /✔ orders \(pid \d+\) stopped with SIGTERM: exit 0/);
      assert.match(run.stdout, /✔ billing \(pid \d+\) stopped with SIGTERM: exit 0/);
      assert.match(run.stdout, /✔ nats-server \(pid \d+\) stopped with SIGINT: exit 0/);
      const pids = [.../^demo pids: (.*)$/m.exec(run.stdout)![1].matchAll(/=(\d+)/g)].map((m) => Number(m[1]));
      assert.equal(pids.length, 3);
      for (const pid of pids) assert.equal(alive(pid), false, `pid ${pid} still running`);
      assert.equal(existsSync(/^demo dir: (.+)$/m.exec(run.stdout)![1]), false);
    } finally {
      if (demo.child.exitCode === null) demo.child.kill('SIGKILL');
    }
  });
});
