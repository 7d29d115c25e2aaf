import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, headers, type NatsConnection } from 'nats';
import { startFleet, type Fleet } from '../../testkit/fleet.js';
import { envoyRequest } from '../../testkit/envoy-client.js';
import { startNatsServer, type NatsServer } from '../../testkit/nats-server.js';
import { EXAMPLES } from '../../testkit/paths.js';
import { mint, readJwk } from '../../testkit/tokens.js';
import { sleep } from '../../testkit/wait.js';

const KEYS = 'keys.issuer.idp';
const REVOCATIONS = 'revocations';

/**
 * An attacker with NATS publish rights but no control-plane key: it can copy old, validly
 * signed documents out of the bucket's history and put them back as the newest values.
 */
describe('replay of old signed documents by someone with publish rights only', () => {
  let server: NatsServer;
  let fleet: Fleet;
  let attacker: NatsConnection;
  let leakedToken: string;
  let revokedToken: string;
  let newToken: string;

  const answer = async (member: Fleet['members'][number], token: string) =>
    (await member.client.check(envoyRequest({ path: '/api/orders', headers: { authorization: `Bearer ${token}` } }))).status.code;

  before(async () => {
    server = await startNatsServer();
    fleet = await startFleet(server.url, 1);
    const ok = async (...args: string[]) => {
      const run = await fleet.ctl(...args);
      assert.equal(run.code, 0, `${args.join(' ')}: ${run.stderr}`);
    };
    // Revision 1: the example key set (idp-dev-1); revocation list revision 1: empty of the token below.
    await ok('publish', 'keys', `${EXAMPLES}/keys/idp.jwks.json`, '--issuer', 'idp');
    assert.equal((await fleet.publishPolicy(1)).code, 0);
    const revoked = await mint({ roles: ['customer'] }, { ttlSeconds: 3600 });
    const { jti } = JSON.parse(Buffer.from(revoked.split('.')[1], 'base64url').toString()) as { jti: string };
    await ok('revoke', '--sub', 'nobody', '--until', '1h');
    // Then the platform rotates: a new key (revision 2), the old one retired (revision 3) — say it leaked.
    const newKeyFile = join(fleet.dir, 'idp-new.jwk.json');
    await ok('rotate', '--issuer', 'idp', '--out', newKeyFile, '--kid', 'idp-new');
    await ok('rotate', '--issuer', 'idp', '--retire', 'idp-dev-1');
    await ok('revoke', '--jti', jti, '--until', '1h');
    leakedToken = await mint({ roles: ['customer'] }, { ttlSeconds: 3600 });
    revokedToken = revoked;
    newToken = await mint({ roles: ['customer'] }, { jwk: readJwk(newKeyFile), ttlSeconds: 3600 });
    attacker = await connect({ servers: server.url, name: 'attacker' });
  });
  after(async () => {
    await attacker?.close();
    await fleet?.close();
    await server?.stop();
  });

  /** The running sidecar has converged on the new key set and the revocation. */
  async function converged(member: Fleet['members'][number]): Promise<void> {
    for (let i = 0; i < 200; i++) {
      if ((await answer(member, leakedToken)) === 16 && (await answer(member, revokedToken)) === 16 && (await answer(member, newToken)) === 0) return;
      await sleep(25);
    }
    assert.fail(
      `${member.instance} did not converge on the rotated keys and the revocation: leaked ${await answer(member, leakedToken)}, revoked ${await answer(member, revokedToken)}, new ${await answer(member, newToken)}`,
    );
  }

  it('puts back the first key set and the first revocation list: the running sidecar refuses both as stale', async () => {
    const running = fleet.members[0];
    await converged(running);
    const js = attacker.jetstream();
    const kv = await js.views.kv('authz', { bindOnly: true });
    const first = async (key: string) => {
      for await (const entry of await kv.history({ key })) if (entry) return entry.value;
      throw new Error(`${key} has no history`);
    };
    await kv.put(KEYS, await first(KEYS));
    await kv.put(REVOCATIONS, await first(REVOCATIONS));
    await running.sidecar.waitForLog(
      (l) => l.msg === 'control document rejected; keeping the last good state' && l.kv_key === REVOCATIONS && l.code === 'document_stale',
    );
    await running.sidecar.waitForLog(
      (l) => l.msg === 'control document rejected; keeping the last good state' && l.kv_key === KEYS && l.code === 'document_stale',
    );
    assert.equal(await answer(running, leakedToken), 16, 'the retired key stays retired');
    assert.equal(await answer(running, revokedToken), 16, 'the revoked token stays revoked');
    assert.equal(await answer(running, newToken), 0);
  });

  it('a sidecar started fresh, with an empty cache, takes the highest signed revision, not the replayed one', async () => {
    const fresh = await startFleet(server.url, 1, 'orders', { member: (_i, _instance, dir) => ({ cacheDir: join(dir, 'empty-cache') }) });
    try {
      // startFleet made the new fleet a control-plane key of its own: pin the platform's instead, and start again (the cache is still empty).
      const member = fresh.members[0];
      await member.sidecar.stop();
      copyFileSync(join(fleet.dir, 'cp.pub.jwk.json'), join(fresh.dir, 'cp.pub.jwk.json'));
      await fresh.restart(member);
      await member.sidecar.waitForLog((l) => l.msg === 'ready' || (l.msg === 'serving' && l.ready === true), 15_000);
      await converged(member);
      const applied = member.sidecar.logs.filter((l) => l.msg === 'control document applied').map((l) => `${l.kv_key}@${l.revision}`);
      assert.ok(applied.includes(`${KEYS}@3`), applied.join(' '));
      assert.ok(applied.includes(`${REVOCATIONS}@2`), applied.join(' '));
      assert.ok(!applied.includes(`${KEYS}@1`) && !applied.includes(`${REVOCATIONS}@1`), `never applied the replayed revisions: ${applied.join(' ')}`);
      // Reported right after the best revision is applied (so it stays the key's last error):
      // its log line may land just after the sidecar looks converged.
      await assert.doesNotReject(
        member.sidecar.waitForLog((l) => l.kv_key === KEYS && l.code === 'document_stale', 5_000),
        'the replay is reported',
      );
    } finally {
      await fresh.close();
    }
  });

  it('authzctl status exits 1 and names both rolled-back keys', async () => {
    const run = await fleet.ctl('status', '--wait', '1500ms', '--signers', join(fleet.dir, 'cp.pub.jwk.json'));
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /^ROLLBACK keys\.issuer\.idp: .*revision 3/m);
    assert.match(run.stdout, /^ROLLBACK revocations: .*revision 2/m);
  });

  it("cannot wipe a key's history with a rollup purge: the bucket authzctl created refuses rollups", async () => {
    const h = headers();
    h.set('KV-Operation', 'PURGE');
    h.set('Nats-Rollup', 'sub');
    const js = attacker.jetstream();
    await assert.rejects(js.publish(`$KV.authz.${KEYS}`, new Uint8Array(), { headers: h }), /rollup/i);
    const kv = await js.views.kv('authz', { bindOnly: true });
    let kept = 0;
    for await (const entry of await kv.history({ key: KEYS })) if (entry) kept++;
    assert.ok(kept >= 4, `history kept (${kept} entries)`);
  });
});
