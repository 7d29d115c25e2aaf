import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { connect, type KV, type NatsConnection } from 'nats';
import { BucketError, ControlBucket, latest, updateKey } from '../../src/control/bucket.js';
import { decodeUnverified, signDocument, verifyDocument } from '../../src/control/signed.js';
import { loadSigners, loadSigningKey } from '../../src/control/signers.js';
import type { RevocationEntry, StatusReport } from '../../src/control/types.js';
import { AUTHZCTL_BIN, FIXTURES, ROOT } from '../../testkit/paths.js';
import { freePort, startNatsServer, type NatsServer } from '../../testkit/nats-server.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The built authzctl with an environment free of AUTHZ_* settings, so only the flags count. */
function ctl(...args: string[]): Promise<Run> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AUTHZ_')));
  return new Promise((resolve) => {
    execFile(process.execPath, [AUTHZCTL_BIN, ...args], { cwd: ROOT, env, timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

function assertOneLineError(run: Run, pattern: RegExp): void {
  assert.equal(run.code, 2, run.stdout + run.stderr);
  assert.equal(run.stderr.trimEnd().split('\n').length, 1, run.stderr);
  assert.match(run.stderr, /^authzctl: /);
  assert.match(run.stderr, pattern);
}

const POLICY = `${FIXTURES}/policies/orders.yaml`;

describe('authzctl control-plane commands against nats-server', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let kv: KV;
  let dir: string;
  let cpKey: string;
  let cpPub: string;
  let nats: string[];

  /** Flags for publishing commands. */
  const pub = () => [...nats, '--signing-key', cpKey];
  const revisionsOf = async (key: string) => {
    const run = await ctl('history', key, ...nats, '--json');
    assert.equal(run.code, 0, run.stderr);
    return (JSON.parse(run.stdout) as { revision: number; kvRevision: number }[]).map((r) => r.revision);
  };

  before(async () => {
    server = await startNatsServer();
    nats = ['--nats', server.url];
    dir = mkdtempSync(join(tmpdir(), 'authzctl-control-'));
    nc = await connect({ servers: server.url });
  });

  after(async () => {
    await nc?.close();
    await server?.stop();
  });

  it('keygen writes a 0600 private JWK and its .pub, and refuses to overwrite', async () => {
    cpKey = join(dir, 'cp.jwk.json');
    cpPub = join(dir, 'cp.pub.jwk.json');
    const run = await ctl('keygen', '--out', cpKey, '--kid', 'cp-1');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `private key (EdDSA, kid cp-1): ${cpKey}\npublic key: ${cpPub}\n`);
    assert.equal(statSync(cpKey).mode & 0o777, 0o600);
    assert.equal(JSON.parse(readFileSync(cpPub, 'utf8')).d, undefined);
    assert.equal((await loadSigningKey(cpKey)).kid, 'cp-1');
    assertOneLineError(await ctl('keygen', '--out', cpKey), /cp\.jwk\.json: already exists \(use --force to overwrite\)/);
  });

  it('history of an unused bucket says so', async () => {
    assertOneLineError(await ctl('history', 'policy.orders', ...nats), /bucket "authz" does not exist/);
  });

  it('publishes a policy as revision 1 then 2, each verifying against the control-plane key', async () => {
    const first = await ctl('publish', 'policy', POLICY, '--service', 'orders', ...pub());
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, 'published policy.orders revision 1\n');
    const second = await ctl('publish', 'policy', POLICY, '--service', 'orders', ...pub(), '--signers', cpPub);
    assert.equal(second.stdout, 'published policy.orders revision 2\n', second.stderr);

    const history = await ctl('history', 'policy.orders', ...nats, '--signers', cpPub);
    assert.equal(history.code, 0, history.stderr);
    const lines = history.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^KV-REV\s+OP\s+TIME\s+REVISION\s+KIND\/TARGET\s+KID\s+SIGNATURE$/);
    assert.match(lines[1], /^\d+\s+PUT\s+\S+Z\s+1\s+policy\/orders\s+cp-1\s+verified$/);
    assert.match(lines[2], /^\d+\s+PUT\s+\S+Z\s+2\s+policy\/orders\s+cp-1\s+verified$/);
    assert.match((await ctl('history', 'policy.orders', ...nats)).stdout, /cp-1\s+unverified\n/);

    kv = await nc.jetstream().views.kv('authz', { bindOnly: true });
    const status = await kv.status();
    assert.equal(status.history, 20);
    const doc = await verifyDocument((await kv.get('policy.orders'))!.string(), await loadSigners([cpPub]), { kind: 'policy', target: 'orders' });
    assert.equal(doc.revision, 2);
    assert.equal((doc.body as { metadata: { service: string } }).metadata.service, 'orders');
  });

  it('publishes nothing for an invalid policy or the wrong service', async () => {
    const before = await revisionsOf('policy.orders');
    assertOneLineError(
      await ctl('publish', 'policy', `${FIXTURES}/policies/bad-path.yaml`, '--service', 'orders', ...pub()),
      /bad-path\.yaml:\d+:\d+: spec\.rules\[\d+\] \(third\)\.to\[0\]\.paths\[\d+\]: /,
    );
    assertOneLineError(
      await ctl('publish', 'policy', POLICY, '--service', 'billing', ...pub()),
      /orders\.yaml: metadata\.service: is "orders" but --service is "billing"/,
    );
    assert.deepEqual(await revisionsOf('policy.orders'), before);
  });

  it('needs a private signing key to publish', async () => {
    assertOneLineError(await ctl('publish', 'policy', POLICY, '--service', 'orders', ...nats), /--signing-key FILE \(or AUTHZ_SIGNING_KEY\) is required/);
    assertOneLineError(await ctl('publish', 'policy', POLICY, '--service', 'orders', ...nats, '--signing-key', cpPub), /--signing-key: .*this is a public key/);
  });

  it('does not let a stale writer win: a CAS on an old KV revision is refused', async () => {
    const entry = (await kv.get('policy.orders'))!;
    const bucket = await ControlBucket.open(nc, 'authz', { create: false });
    assert.equal(await bucket.putIfUnchanged('policy.orders', 'x', entry.revision - 1), null);
    assert.equal(await bucket.putIfUnchanged('policy.orders', 'x', null), null);
    assert.equal((await kv.get('policy.orders'))!.revision, entry.revision);
  });

  it('updateKey re-reads and rebuilds when someone wrote in between, and gives up after 3 retries', async () => {
    const bucket = await ControlBucket.open(nc, 'authz', { create: false });
    const seen: (string | null)[] = [];
    const written = await updateKey(bucket, 'policy.race', async (current) => {
      seen.push(current?.jws ?? null);
      if (seen.length === 1) await kv.put('policy.race', 'theirs');
      return `mine-${seen.length}`;
    });
    assert.deepEqual(seen, [null, 'theirs']);
    assert.equal(written.value, 'mine-2');
    assert.equal((await kv.get('policy.race'))!.string(), 'mine-2');

    let attempts = 0;
    await assert.rejects(
      updateKey(bucket, 'policy.race', async () => {
        attempts++;
        await kv.put('policy.race', `theirs-${attempts}`);
        return 'never';
      }),
      (e: unknown) => e instanceof BucketError && e.code === 'bucket_conflict',
    );
    assert.equal(attempts, 4);
  });

  it('latest() after a delete still returns the last document, with the marker revision for CAS', async () => {
    const put = await kv.put('policy.gone', 'last-doc');
    const marker = (await kv.delete('policy.gone'), (await kv.get('policy.gone'))!.revision);
    assert.ok(marker > put);
    const bucket = await ControlBucket.open(nc, 'authz', { create: false });
    assert.deepEqual(await latest(bucket, 'policy.gone'), { jws: 'last-doc', kvRevision: marker });
    assert.equal(await latest(bucket, 'policy.never'), null);
  });

  it('two publishers racing both land, on distinct consecutive revisions', async () => {
    const runs = await Promise.all([1, 2, 3].map(() => ctl('publish', 'policy', POLICY, '--service', 'orders', ...pub())));
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    const published = runs.map((r) => Number(/revision (\d+)/.exec(r.stdout)![1])).sort();
    assert.deepEqual(published, [3, 4, 5]);
    assert.deepEqual(await revisionsOf('policy.orders'), [1, 2, 3, 4, 5]);
  });

  it('publishes a key set, and refuses one holding a private key', async () => {
    const good = await ctl('publish', 'keys', 'deploy/examples/keys/idp.jwks.json', '--issuer', 'idp', ...pub());
    assert.equal(good.stdout, 'published keys.issuer.idp revision 1\n', good.stderr);
    const privateSet = join(dir, 'private.jwks.json');
    writeFileSync(privateSet, JSON.stringify({ keys: [JSON.parse(readFileSync(`${ROOT}deploy/examples/keys/idp-dev-1.private.jwk.json`, 'utf8'))] }));
    assertOneLineError(
      await ctl('publish', 'keys', privateSet, '--issuer', 'idp', ...pub()),
      /private\.jwks\.json: key #0 \(kid "idp-dev-1"\) contains private key member "d"/,
    );
    assertOneLineError(await ctl('publish', 'keys', privateSet, ...pub()), /exactly one of --issuer NAME, --trust-domain DOMAIN/);
    assert.deepEqual(await revisionsOf('keys.issuer.idp'), [1]);
  });

  it('rotate adds a key whose private half mints tokens the published set verifies, then retires the old one', async () => {
    const out = join(dir, 'idp-2.jwk.json');
    const run = await ctl('rotate', '--issuer', 'idp', '--out', out, '--kid', 'idp-2', ...pub());
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^published keys\.issuer\.idp revision 2: kids idp-dev-1, idp-2\n/);
    assert.match(run.stdout, /authzctl rotate --issuer idp --retire idp-dev-1/);
    assert.equal(statSync(out).mode & 0o777, 0o600);

    const set = decodeUnverified((await kv.get('keys.issuer.idp'))!.string()).document.body as JSONWebKeySet;
    assert.deepEqual(
      set.keys.map((k) => k.kid),
      ['idp-dev-1', 'idp-2'],
    );
    const minted = await ctl('token', 'mint', '--key', out, '--sub', 'alice');
    assert.equal(minted.code, 0, minted.stderr);
    const token = minted.stdout.trim();
    assert.equal(decodeProtectedHeader(token).kid, 'idp-2');
    await jwtVerify(token, createLocalJWKSet(set), { audience: 'orders' });

    assertOneLineError(await ctl('rotate', '--issuer', 'idp', '--out', out, ...pub()), /idp-2\.jwk\.json: already exists/);
    const retired = await ctl('rotate', '--issuer', 'idp', '--retire', 'idp-dev-1', ...pub());
    assert.equal(retired.stdout, 'published keys.issuer.idp revision 3 without kid idp-dev-1\n', retired.stderr);
    assertOneLineError(await ctl('rotate', '--issuer', 'idp', '--retire', 'idp-2', ...pub()), /"idp-2" is the last key of the set/);
    assert.deepEqual(await revisionsOf('keys.issuer.idp'), [1, 2, 3]);
  });

  it('revoke appends entries, prunes expired ones and lists those in force', async () => {
    // An expired entry, as an earlier revoke would have left it.
    const now = Math.floor(Date.now() / 1000);
    const expired = await signDocument(
      { kind: 'revocations', target: '*', revision: 1, issuedAt: now, body: { entries: [{ jti: 'old', until: now - 10 }] } },
      await loadSigningKey(cpKey),
    );
    await kv.create('revocations', expired);

    const first = await ctl('revoke', '--jti', 'tok-1', '--until', '1h', ...pub());
    assert.equal(first.stdout, 'published revocations revision 2: 1 entry, 1 expired pruned\n', first.stderr);
    const second = await ctl('revoke', '--sub', 'alice', '--iss', 'https://idp.example.test', '--until', '2099-01-01T00:00:00Z', ...pub());
    assert.equal(second.stdout, 'published revocations revision 3: 2 entries\n', second.stderr);

    const doc = await verifyDocument((await kv.get('revocations'))!.string(), await loadSigners([cpPub]), { kind: 'revocations', target: '*' });
    const entries = (doc.body as { entries: RevocationEntry[] }).entries;
    assert.deepEqual(
      entries.map((e) => e.jti ?? e.sub),
      ['tok-1', 'alice'],
    );
    assert.ok(Math.abs(entries[0].until - (now + 3600)) <= 5);
    assert.equal(entries[1].until, 4_070_908_800);

    const list = await ctl('revoke', '--list', ...nats);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^jti tok-1 {2}until \S+\nsub alice iss https:\/\/idp\.example\.test {2}until 2099-01-01T00:00:00\.000Z\n$/);
    assertOneLineError(await ctl('revoke', '--jti', 'x', '--until', '3600', ...pub()), /--until: "3600" is in the past/);
  });

  it('status exits 2 when no sidecar answers', async () => {
    const run = await ctl('status', ...nats, '--wait', '300ms');
    assertOneLineError(run, /^authzctl: no sidecar answered on authz\.status-ping within 300ms$/m);
    assert.equal(run.stdout, '');
    assertOneLineError(
      await ctl('status', ...nats, '--wait', '300ms', '--expect', '3'),
      /^authzctl: no sidecar answered on authz\.status-ping within 300ms \(0 of 3 expected\)$/m,
    );
  });

  it('status shows each responder against the bucket and exits 0 converged, 1 lagging', async () => {
    const report = (instance: string, revision: number, at = new Date().toISOString()): StatusReport => ({
      service: 'orders',
      instance,
      ready: true,
      revisions: { 'policy.orders': revision, 'keys.issuer.idp': 3 },
      lastError: null,
      connected: true,
      at,
    });
    const replies: StatusReport[] = [report('orders-1', 5)];
    const responder = nc.subscribe('authz.status-ping', { callback: (_err, msg) => replies.forEach((r) => msg.respond(JSON.stringify(r))) });
    await nc.flush();
    try {
      const converged = await ctl('status', ...nats, '--wait', '500ms');
      assert.equal(converged.code, 0, converged.stdout + converged.stderr);
      assert.match(
        converged.stdout,
        /^SERVICE\s+INSTANCE\s+READY\s+CONNECTED\s+CURRENT\s+REVISIONS\s+LAST ERROR\norders\s+orders-1\s+yes\s+yes\s+yes\s+keys\.issuer\.idp 3\/3, policy\.orders 5\/5\s+-\n\n1 sidecar answered \(--expect N to check that none is missing\)\n1\/1 sidecar converged\n$/,
      );

      replies.push(report('orders-2', 4));
      // A report heard only as a broadcast on the status subject counts too.
      const broadcast = setInterval(() => nc.publish('authz.status.orders.orders-3', JSON.stringify(report('orders-3', 5))), 50);
      const lagging = await ctl('status', ...nats, '--wait', '500ms').finally(() => clearInterval(broadcast));
      assert.equal(lagging.code, 1, lagging.stdout + lagging.stderr);
      assert.match(lagging.stdout, /orders-2\s+yes\s+yes\s+yes\s+keys\.issuer\.idp 3\/3, policy\.orders 4\/5 LAG/);
      assert.match(lagging.stdout, /orders-3\s+yes\s+yes\s+yes\s+keys\.issuer\.idp 3\/3, policy\.orders 5\/5/);
      assert.match(lagging.stdout, /\n\n3 sidecars answered \(--expect N to check that none is missing\)\n2\/3 sidecars converged\n$/);

      const json = await ctl('status', ...nats, '--wait', '300ms', '--json');
      assert.equal(json.code, 1);
      const { sidecars, ...counts } = JSON.parse(json.stdout) as { sidecars: { instance: string; converged: boolean }[] };
      assert.deepEqual(counts, { expected: null, answered: 2, missing: null, extra: null, converged: 1 });
      assert.deepEqual(
        sidecars.map((r) => [r.instance, r.converged]),
        [
          ['orders-1', true],
          ['orders-2', false],
        ],
      );
    } finally {
      responder.unsubscribe();
    }
  });

  it('fails in one line with exit 2 when NATS cannot be reached', async () => {
    const port = await freePort();
    const started = Date.now();
    assertOneLineError(
      await ctl('status', '--nats', `nats://127.0.0.1:${port}`, '--timeout', '1s'),
      new RegExp(`cannot reach NATS at nats://127\\.0\\.0\\.1:${port}: ECONNREFUSED`),
    );
    assertOneLineError(
      await ctl('publish', 'policy', POLICY, '--service', 'orders', '--signing-key', cpKey, '--nats', `nats://127.0.0.1:${port}`),
      /cannot reach NATS/,
    );
    assert.ok(Date.now() - started < 10_000);
  });

  it('prints --help for every command', async () => {
    for (const command of ['keygen', 'publish', 'rotate', 'revoke', 'history', 'status']) {
      const run = await ctl(command, '--help');
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, new RegExp(`^Usage: authzctl ${command}`));
    }
  });
});
