import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envoyRequest, envoyRequestJson } from '../../testkit/envoy-client.js';
import { startNatsServer, type NatsServer } from '../../testkit/nats-server.js';
import { AUTHZCTL_BIN, EXAMPLES, FIXTURES, ROOT } from '../../testkit/paths.js';

/*
 * `authzctl policy replay` as the built binary: exit codes, stdin, and --service reading the
 * enforced policy from a real nats-server's bucket, verified with the pinned signer. The
 * replay itself is covered in process by test/unit/cli-policy-replay.test.ts.
 */

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The built authzctl with an environment free of AUTHZ_* settings; `stdin` is written to it. */
function ctl(args: readonly string[], stdin = ''): Promise<Run> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AUTHZ_')));
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [AUTHZCTL_BIN, ...args], { cwd: ROOT, env, timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
    child.stdin?.end(stdin);
  });
}

const CURRENT = `${EXAMPLES}/policy.yaml`;
const NEXT = `${FIXTURES}/policies/orders-next.yaml`;
// public-health under both; /api/catalog/* allowed only by the new policy.
const CHECKS = [envoyRequest({ path: '/healthz' }), envoyRequest({ path: '/api/catalog/shoes' })].map((r) => envoyRequestJson(r)).join('\n') + '\n';

describe('authzctl policy replay (binary)', () => {
  let server: NatsServer;
  let dir: string;
  let requests: string;

  before(async () => {
    server = await startNatsServer();
    dir = mkdtempSync(join(tmpdir(), 'policy-replay-'));
    requests = join(dir, 'checks.jsonl');
    writeFileSync(requests, CHECKS);
  });

  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('exits 1 when Checks diverge, 0 when none do, reading stdin for "-"', async () => {
    const diverging = await ctl(['policy', 'replay', '--policy', NEXT, '--current', CURRENT, '--requests', '-'], CHECKS);
    assert.equal(diverging.code, 1, diverging.stderr);
    assert.match(diverging.stdout, /^2 Checks: 1 decided differently \(50\.0 %\)/);
    assert.match(diverging.stdout, /deny default_deny +allow public-catalog +1 +GET \/api\/catalog\/shoes \(anonymous, request 4242\)/);
    const same = await ctl(['policy', 'replay', '--policy', CURRENT, '--current', CURRENT, '--requests', requests]);
    assert.equal(same.code, 0, same.stderr);
    assert.equal(same.stdout, '2 Checks: 0 decided differently (0.0 %), 0 shadow evaluation errors, 0 condition errors\n');
  });

  it('exits 2 with one line naming FILE:LINE for a bad line, printing nothing else', async () => {
    const run = await ctl(['policy', 'replay', '--policy', NEXT, '--current', CURRENT, '--requests', '-'], `${CHECKS}\n{"attributes":\n`);
    assert.equal(run.code, 2);
    assert.equal(run.stdout, '');
    assert.equal(run.stderr, 'authzctl: stdin:4: not valid JSON\n');
  });

  it('is listed, and answers --help', async () => {
    const usage = await ctl(['policy', '--help']);
    assert.match(usage.stdout, /policy replay +decide recorded Checks/);
    const help = await ctl(['policy', 'replay', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /decoded but NOT verified/);
  });

  it('--service replays against the policy the bucket enforces, verified with --signers', async () => {
    const key = join(dir, 'cp.jwk.json');
    const other = join(dir, 'other.jwk.json');
    const nats = ['--nats', server.url];
    for (const [file, kid] of [
      [key, 'cp-1'],
      [other, 'other-1'],
    ])
      assert.equal((await ctl(['keygen', '--out', file, '--kid', kid])).code, 0);
    const published = await ctl(['publish', 'policy', CURRENT, '--service', 'orders', ...nats, '--signing-key', key]);
    assert.equal(published.code, 0, published.stderr);

    const replay = ['policy', 'replay', '--policy', NEXT, '--service', 'orders', '--requests', requests, ...nats, '--json'];
    const run = await ctl([...replay, '--signers', key.replace(/\.jwk\.json$/, '.pub.jwk.json')]);
    assert.equal(run.code, 1, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.deepEqual([report.evaluated, report.divergent], [2, 1]);

    const refused = await ctl([...replay, '--signers', other.replace(/\.jwk\.json$/, '.pub.jwk.json')]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /^authzctl: policy\.orders: no document in the bucket verifies/);
  });
});
