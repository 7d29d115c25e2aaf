import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lastApplied, orderViolations, startSingleServerEnv, untilApplied, type SingleServerEnv } from '../../testkit/chaos.js';
import type { FleetMember } from '../../testkit/fleet.js';
import { until } from '../../testkit/wait.js';

const CACHE_FAILED = 'cannot write the last-good cache; serving on';

/** A private mount namespace (we run as root) lets one sidecar have a tiny tmpfs of its own as cache dir. */
const mountNamespaces =
  spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'd=$(mktemp -d) && mount -t tmpfs -o size=4k tmpfs "$d" && umount "$d" && rmdir "$d"'])
    .status === 0;

function revisionIn(file: string): number {
  const jws = readFileSync(file, 'utf8');
  return JSON.parse(Buffer.from(jws.split('.')[1], 'base64url').toString()).revision as number;
}

async function cacheFailures(member: FleetMember): Promise<number> {
  const text = await (await fetch(`${member.sidecar.adminUrl}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('authz_control_rejections_total{') && l.includes('key="policy.orders"') && l.includes('code="cache_write_failed"'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('chaos: the last-good cache directory cannot be written', () => {
  let env: SingleServerEnv;
  const cacheDirs: string[] = [];
  let blocker = '';

  before(async () => {
    env = await startSingleServerEnv(2, {
      member: (index, instance, dir) => {
        if (index === 0) {
          // orders-0: its cache dir is a 64 KiB tmpfs mounted in a mount namespace of its own
          // (gone with the process), filled up for ENOSPC and remounted read-only for EROFS.
          const cacheDir = join(dir, instance, 'cache');
          mkdirSync(cacheDir);
          cacheDirs.push(cacheDir);
          if (!mountNamespaces) return { cacheDir };
          return {
            cacheDir,
            wrap: [
              'unshare',
              '-m',
              '--propagation',
              'private',
              'sh',
              '-c',
              'mount -t tmpfs -o size=64k,mode=0700 authz-chaos-cache "$0" && exec "$@"',
              cacheDir,
            ],
          };
        }
        // orders-1: a path component of its cache dir is a regular file: ENOTDIR, even for root.
        blocker = join(dir, instance, 'blocked');
        writeFileSync(blocker, 'not a directory\n');
        cacheDirs.push(join(blocker, 'cache'));
        return { cacheDir: join(blocker, 'cache') };
      },
    });
  });
  after(() => env?.close());

  const publishAndApply = async () => {
    const revision = await env.publisher.publish();
    await untilApplied(env.fleet.members, revision, 10_000);
    return revision;
  };
  const serving = async (member: FleetMember, revision: number) => {
    assert.equal((await env.fleet.check(member, `/v${revision}/x`)).status.code, 0, `${member.instance} allows /v${revision}/x`);
    assert.equal((await fetch(`${member.sidecar.adminUrl}/readyz`)).status, 200, `${member.instance} ready`);
  };

  it('ENOTDIR: every write fails, logged and counted; the sidecar applies, serves and stays ready; once the path is fixed the next apply is cached', async () => {
    const member = env.fleet.members[1];
    const line = await member.sidecar.waitForLog((l) => l.msg === CACHE_FAILED);
    assert.equal(line.code, 'cache_write_failed');
    assert.match(String(line.reason), /ENOTDIR/);
    let revision = await publishAndApply();
    await serving(member, revision);
    assert.ok((await cacheFailures(member)) >= 2, 'authz_control_rejections_total{code="cache_write_failed"}');

    rmSync(blocker);
    const failuresBefore = member.sidecar.logs.filter((l) => l.msg === CACHE_FAILED).length;
    revision = await publishAndApply();
    const file = join(cacheDirs[1], 'policy.orders.jws');
    await until(
      'the cache written again',
      () => {
        try {
          return revisionIn(file) === revision;
        } catch {
          return false;
        }
      },
      5_000,
    );
    assert.equal(member.sidecar.logs.filter((l) => l.msg === CACHE_FAILED).length, failuresBefore);
    // The key set, applied while the path was broken and not published since, is cached too.
    await until('the key set cached too', () => readdirSync(cacheDirs[1]).includes('keys.issuer.idp.jws'), 5_000);
    await serving(member, revision);
  });

  it(
    'ENOSPC then EROFS on a real tmpfs: the previous cached document stays whole, serving goes on; the next apply after recovery is cached',
    { skip: mountNamespaces ? false : 'mount namespaces unavailable (needs root / CAP_SYS_ADMIN)' },
    async () => {
      const member = env.fleet.members[0];
      const pid = member.sidecar.child.pid!;
      const dir = cacheDirs[0];
      // The sidecar's view of its cache dir, through its own mount namespace.
      const inside = `/proc/${pid}/root${dir}`;
      const file = join(inside, 'policy.orders.jws');
      const inNamespace = (...command: string[]) => execFileSync('nsenter', ['-t', String(pid), '-m', ...command], { stdio: 'pipe' });
      assert.match(inNamespace('findmnt', '-n', '-o', 'FSTYPE', dir).toString(), /tmpfs/);
      const good = lastApplied(member.sidecar);
      await until('the cache holds the applied revision', () => revisionIn(file) === good, 5_000);

      // ENOSPC: fill the tmpfs to the last byte.
      spawnSync('nsenter', ['-t', String(pid), '-m', 'dd', 'if=/dev/zero', `of=${dir}/filler`, 'bs=4096'], { stdio: 'ignore' });
      let revision = await publishAndApply();
      const enospc = await member.sidecar.waitForLog((l) => l.msg === CACHE_FAILED && /ENOSPC/.test(String(l.reason)), 5_000);
      assert.equal(enospc.code, 'cache_write_failed');
      assert.equal(revisionIn(file), good, 'the last good document is still whole');
      assert.deepEqual(
        readdirSync(inside).filter((n) => n.includes('.tmp-')),
        [],
        'no temp file left behind',
      );
      await serving(member, revision);

      // EROFS: room again, but the file system is read-only.
      rmSync(join(inside, 'filler'));
      inNamespace('mount', '-o', 'remount,ro', dir);
      revision = await publishAndApply();
      const erofs = await member.sidecar.waitForLog((l) => l.msg === CACHE_FAILED && /EROFS/.test(String(l.reason)), 5_000);
      assert.equal(erofs.code, 'cache_write_failed');
      assert.equal(revisionIn(file), good);
      await serving(member, revision);
      assert.ok((await cacheFailures(member)) >= 2);

      // The disk recovers: the next apply is cached again, with no new failure.
      inNamespace('mount', '-o', 'remount,rw', dir);
      const failuresBefore = member.sidecar.logs.filter((l) => l.msg === CACHE_FAILED).length;
      revision = await publishAndApply();
      await until('the cache written again', () => revisionIn(file) === revision, 5_000);
      assert.equal(member.sidecar.logs.filter((l) => l.msg === CACHE_FAILED).length, failuresBefore);
      await serving(member, revision);
      assert.deepEqual(orderViolations(env.fleet.members), []);
    },
  );

  it('the sidecar whose cache dir was fixed, restarted while NATS is down, serves the newest revision from it', async () => {
    // (orders-0's tmpfs lives and dies with its process, so only orders-1 has a cache that outlives a restart.)
    const member = env.fleet.members[1];
    const newest = env.publisher.newest;
    await env.nats.stop();
    try {
      await env.fleet.restart(member);
      await member.sidecar.waitForLog((l) => l.msg === 'control document applied' && l.source === 'cache' && l.kv_key === 'policy.orders');
      assert.equal(lastApplied(member.sidecar), newest, `${member.instance} loaded the newest revision from its cache`);
      await serving(member, newest);
    } finally {
      await env.nats.restart();
    }
  });
});
