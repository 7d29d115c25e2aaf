import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startNatsServer, kvWriter, type NatsServer } from '../../testkit/nats-server.js';
import { converge, startFleet, versionedPolicy, type Fleet } from '../../testkit/fleet.js';
import { denyBody, type CheckResult } from '../../testkit/envoy-client.js';
import { mint, readJwk } from '../../testkit/tokens.js';
import { EXAMPLES } from '../../testkit/paths.js';
import { loadSigningKey } from '../../src/control/signers.js';
import { signDocument } from '../../src/control/signed.js';
import { parsePolicy } from '../../src/policy/index.js';

const allowed = (r: CheckResult) => r.status.code === 0;

/** `authzctl status --json`. */
interface StatusJson {
  expected: number | null;
  answered: number;
  missing: number | null;
  extra: number | null;
  converged: number;
  sidecars: Array<{ instance: string; converged: boolean; keys: Array<{ key: string; applied: number; latest: number | null }> }>;
}
const refused = (r: CheckResult) => r.status.code !== 0;

describe('control plane: 3 sidecars following a real NATS JetStream bucket', () => {
  let nats: NatsServer;
  let fleet: Fleet;
  let version = 1;

  before(async () => {
    nats = await startNatsServer();
    fleet = await startFleet(nats.url, 3);
    const keys = await fleet.ctl('publish', 'keys', `${EXAMPLES}/keys/idp.jwks.json`, '--issuer', 'idp');
    assert.equal(keys.code, 0, keys.stderr);
    const policy = await fleet.publishPolicy(version);
    assert.equal(policy.code, 0, policy.stderr);
    await converge(fleet, `/v${version}/x`, allowed, 10_000);
    // The policy and the key set are watched separately and may land in either order.
    for (const m of fleet.members) await m.sidecar.waitForLog((l) => l.msg === 'ready' || (l.msg === 'serving' && l.ready === true), 5_000);
  });
  after(async () => {
    await fleet?.close();
    await nats?.stop();
  });

  it('becomes ready only once the policy and keys arrive, and reports status for every sidecar', async () => {
    for (const m of fleet.members) assert.equal((await fetch(`${m.sidecar.adminUrl}/readyz`)).status, 200);
    const status = await fleet.ctl('status', '--expect', '3', '--wait', '1500ms', '--json');
    assert.equal(status.code, 0, status.stdout + status.stderr);
    const { sidecars: rows, ...counts } = JSON.parse(status.stdout) as StatusJson;
    assert.deepEqual(counts, { expected: 3, answered: 3, missing: 0, extra: 0, converged: 3 });
    assert.deepEqual(rows.map((r) => r.instance).sort(), ['orders-0', 'orders-1', 'orders-2']);
    for (const r of rows) {
      assert.ok(r.converged, JSON.stringify(r));
      const policy = r.keys.find((k) => k.key === 'policy.orders');
      assert.ok(policy && policy.applied >= 1 && policy.applied === policy.latest, JSON.stringify(r));
    }
  });

  it('status --expect N: "3 of 3 expected sidecars answered" exits 0; fewer or more than N answering exits 1', async () => {
    const exact = await fleet.ctl('status', '--expect', '3', '--wait', '1s');
    assert.equal(exact.code, 0, exact.stdout + exact.stderr);
    assert.match(exact.stdout, /\n\n3 of 3 expected sidecars answered\n3\/3 sidecars converged\n$/);
    for (const m of fleet.members) assert.match(exact.stdout, new RegExp(`^orders\\s+${m.instance}\\s+yes\\s+yes\\s+yes\\s`, 'm'));

    // One more expected than are running: the missing one cannot be named, only counted.
    const missing = await fleet.ctl('status', '--expect', '4', '--wait', '1s');
    assert.equal(missing.code, 1, missing.stdout + missing.stderr);
    assert.match(missing.stdout, /^3 of 4 expected sidecars answered: 1 missing \(down, cut off from NATS or slower than --wait: .*\)$/m);
    assert.match(missing.stdout, /^3\/3 sidecars converged$/m, 'every sidecar that answered is fine: the count alone fails it');

    const json = await fleet.ctl('status', '--expect', '4', '--wait', '1s', '--json');
    assert.equal(json.code, 1, json.stdout + json.stderr);
    const { sidecars, ...counts } = JSON.parse(json.stdout) as StatusJson;
    assert.deepEqual(counts, { expected: 4, answered: 3, missing: 1, extra: 0, converged: 3 });
    assert.equal(sidecars.length, 3);

    // More answering than expected: a sidecar nobody counted (a stale pod) is a failure too.
    const extra = await fleet.ctl('status', '--expect', '2', '--wait', '1s');
    assert.equal(extra.code, 1, extra.stdout + extra.stderr);
    assert.match(extra.stdout, /^3 sidecars answered, 2 expected: 1 more than expected \(.*\)$/m);

    // Without --expect it still says how many answered.
    const plain = await fleet.ctl('status', '--wait', '1s');
    assert.equal(plain.code, 0, plain.stdout + plain.stderr);
    assert.match(plain.stdout, /^3 sidecars answered \(--expect N to check that none is missing\)$/m);
  });

  it('status --expect refuses anything but a whole number of at least 1, in one line, exit 2', async () => {
    for (const bad of ['0', '-1', 'three', '2.5']) {
      const run = await fleet.ctl('status', '--expect', bad);
      assert.equal(run.code, 2, run.stdout + run.stderr);
      assert.equal(run.stdout, '');
      assert.equal(run.stderr, `authzctl: --expect: "${bad}" must be a whole number of at least 1 (how many sidecars should answer)\n`);
    }
    const noValue = await fleet.ctl('status', '--expect');
    assert.equal(noValue.code, 2);
    assert.match(noValue.stderr, /^authzctl: .*--expect.*\(see --help\)\n$/);
  });

  it('applies a policy published with authzctl on all 3 sidecars within 1 s', async (t) => {
    for (let i = 0; i < 3; i++) {
      version++;
      const published = await fleet.publishPolicy(version);
      assert.equal(published.code, 0, published.stderr);
      const elapsed = await converge(fleet, `/v${version}/x`, allowed, 1_000);
      assert.ok(elapsed < 1_000, `${elapsed} ms`);
      t.diagnostic(`revision ${version}: all 3 sidecars allow within ${elapsed.toFixed(0)} ms of authzctl exiting`);
      await converge(fleet, `/v${version - 1}/x`, refused, 1_000);
    }
  });

  it('rotates keys: a new kid is accepted, a retired kid is refused even when cached', async () => {
    const token = await mint({ roles: ['customer'] });
    await converge(fleet, '/api/orders', allowed, 2_000, { authorization: `Bearer ${token}` });
    const out = join(fleet.dir, 'idp-next.private.jwk.json');
    const rotated = await fleet.ctl('rotate', '--issuer', 'idp', '--out', out, '--kid', 'idp-next');
    assert.equal(rotated.code, 0, rotated.stderr);
    const fresh = await mint({ roles: ['customer'] }, { jwk: readJwk(out) });
    await converge(fleet, '/api/orders', allowed, 1_000, { authorization: `Bearer ${fresh}` });
    await converge(fleet, '/api/orders', allowed, 1_000, { authorization: `Bearer ${token}` });

    const retired = await fleet.ctl('rotate', '--issuer', 'idp', '--retire', 'idp-dev-1');
    assert.equal(retired.code, 0, retired.stderr);
    await converge(fleet, '/api/orders', (r) => denyBody(r).reason === 'token_key_unknown', 1_000, { authorization: `Bearer ${token}` });
    await converge(fleet, '/api/orders', allowed, 1_000, { authorization: `Bearer ${fresh}` });
  });

  it('revokes a jti at once, cached tokens included', async () => {
    const signing = join(fleet.dir, 'idp-next.private.jwk.json');
    const token = await mint({ roles: ['customer'], jti: 'leaked-token' }, { jwk: readJwk(signing) });
    await converge(fleet, '/api/orders', allowed, 1_000, { authorization: `Bearer ${token}` });
    const revoked = await fleet.ctl('revoke', '--jti', 'leaked-token', '--until', '1h');
    assert.equal(revoked.code, 0, revoked.stderr);
    const elapsed = await converge(fleet, '/api/orders', (r) => denyBody(r).reason === 'token_revoked', 1_000, { authorization: `Bearer ${token}` });
    assert.ok(elapsed < 1_000);
  });

  it('ignores unsigned, tampered, wrong-kind, deleted and older-revision documents', async () => {
    const writer = await kvWriter(nats.url, 'authz');
    try {
      const history = await writer.kv.history({ key: 'policy.orders' });
      const entries: string[] = [];
      for await (const e of history) if (e.operation === 'PUT') entries.push(new TextDecoder().decode(e.value));
      const current = entries.at(-1)!;
      const older = entries[0];
      const legitRevision = JSON.parse(Buffer.from(current.split('.')[1], 'base64url').toString()).revision as number;
      const [h, p, s] = current.split('.');
      const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
      payload.body.spec.defaultAction = 'ALLOW';
      const tampered = `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
      const keysDoc = new TextDecoder().decode((await writer.kv.get('keys.issuer.idp'))!.value);
      const signing = await loadSigningKey(join(fleet.dir, 'cp.jwk.json'));
      const attacker = await signDocument(
        { kind: 'policy', target: 'orders', revision: 999, issuedAt: 0, body: parsePolicy(versionedPolicy(999), 'x') },
        { ...signing, kid: 'not-pinned' },
      ).catch(() => null);

      const attempts: Array<[string, string]> = [
        ['unsigned', JSON.stringify(parsePolicy(versionedPolicy(500), 'x'))],
        [
          'unsigned JWS with a huge revision',
          `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ kind: 'policy', target: 'orders', revision: Number.MAX_SAFE_INTEGER, issuedAt: 0, body: {} })).toString('base64url')}.`,
        ],
        ['tampered', tampered],
        ['wrong kind', keysDoc],
        ['older revision', older],
      ];
      if (attacker) attempts.push(['unpinned signer', attacker]);
      for (const [, value] of attempts) await writer.put('policy.orders', value);
      await writer.kv.delete('policy.orders');
      await new Promise((r) => setTimeout(r, 500));

      for (const m of fleet.members) {
        assert.equal((await fleet.check(m, `/v${version}/x`)).status.code, 0, `${m.instance} still on revision ${version}`);
        assert.notEqual((await fleet.check(m, '/v500/x')).status.code, 0);
        assert.notEqual((await fleet.check(m, '/anything')).status.code, 0, 'tampered defaultAction ALLOW not applied');
        const codes = m.sidecar.logs.filter((l) => l.msg === 'control document rejected; keeping the last good state').map((l) => l.code);
        for (const code of ['document_unsigned', 'document_signature_invalid', 'document_wrong_kind', 'document_stale'])
          assert.ok(codes.includes(code), `${m.instance}: ${code} in ${codes}`);
        assert.ok(m.sidecar.logs.some((l) => l.msg === 'control document ignored' && l.reason === 'deleted'));
      }
      // The legitimate publisher still moves forward after all that.
      version++;
      const published = await fleet.publishPolicy(version);
      assert.equal(published.code, 0, published.stderr);
      // Hostile entries never set the publisher's next revision: it follows the last signed one.
      assert.match(published.stdout, new RegExp(`revision ${legitRevision + 1}$`, 'm'));
      await converge(fleet, `/v${version}/x`, allowed, 1_000);
    } finally {
      await writer.close();
    }
  });

  it('survives nats-server kill -9 during a burst and converges on the newest revision within 5 s of its return', async (t) => {
    const signing = await loadSigningKey(join(fleet.dir, 'cp.jwk.json'));
    const writer = await kvWriter(nats.url, 'authz');
    const revisionOf = async () => {
      const entry = await writer.kv.get('policy.orders');
      return JSON.parse(Buffer.from(new TextDecoder().decode(entry!.value).split('.')[1], 'base64url').toString()).revision as number;
    };
    let revision = await revisionOf();
    const put = async () => {
      version++;
      revision++;
      const jws = await signDocument(
        { kind: 'policy', target: 'orders', revision, issuedAt: Math.floor(Date.now() / 1000), body: parsePolicy(versionedPolicy(version), 'x') },
        signing,
      );
      await writer.put('policy.orders', jws);
    };
    try {
      for (let i = 0; i < 10; i++) await put();
      await nats.kill9();
      // While NATS is gone every sidecar keeps serving its last good state.
      for (const m of fleet.members) assert.equal((await fleet.check(m, '/api/orders')).status.code, 16);
      const pending = Promise.all(Array.from({ length: 10 }, () => put()));
      await new Promise((r) => setTimeout(r, 300));
      await nats.restart();
      const back = performance.now();
      await pending;
      for (let i = 0; i < 10; i++) await put();
      await converge(fleet, `/v${version}/x`, allowed, 5_000);
      const since = performance.now() - back;
      assert.ok(since < 5_000);
      t.diagnostic(`converged on revision ${revision} ${since.toFixed(0)} ms after nats-server returned`);
    } finally {
      await writer.close();
    }
  });

  it('a sidecar restarted while NATS is down serves its cached state', async () => {
    await nats.stop();
    const member = fleet.members[0];
    await fleet.restart(member);
    await member.sidecar.waitForLog((l) => l.msg === 'control document applied' && l.source === 'cache' && l.kv_key === 'policy.orders');
    assert.equal((await fetch(`${member.sidecar.adminUrl}/readyz`)).status, 200);
    assert.equal((await fleet.check(member, `/v${version}/x`)).status.code, 0);
    await nats.restart();
  });
});
