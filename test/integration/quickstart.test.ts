import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EXAMPLES } from '../../testkit/paths.js';
import { startSidecar, type SidecarProcess } from '../../testkit/sidecar.js';
import { authzctl } from '../../testkit/authzctl.js';

/** The README's walk-through, command for command, against the example config. */
describe('README quick start: example config, authzctl token mint and check', () => {
  let sidecar: SidecarProcess;
  before(async () => {
    sidecar = await startSidecar(`${EXAMPLES}/config.yaml`);
  });
  after(async () => {
    assert.equal(await sidecar.stop(), 0);
  });

  it('denies 401 without a token', async () => {
    const run = await authzctl('check', '--address', sidecar.grpcAddress, '--path', '/api/orders');
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^DENY 401 \(credentials_missing\)/);
  });

  it('allows with a minted token carrying the scope, role and tenant the policy asks for', async () => {
    const mint = await authzctl(
      'token',
      'mint',
      '--key',
      'deploy/examples/keys/idp-dev-1.private.jwk.json',
      '--sub',
      'alice',
      '--scope',
      'orders:read',
      '--roles',
      'customer',
      '--claim',
      'tenant=acme',
    );
    assert.equal(mint.code, 0, mint.stderr);
    const token = mint.stdout.trim();
    const run = await authzctl('check', '--address', sidecar.grpcAddress, '--path', '/api/orders', '-H', 'x-tenant-id: acme', '--token', token);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^ALLOW/);
    assert.match(run.stdout, /x-auth-subject: alice/);
    assert.match(run.stdout, /rule=read-orders/);
    const wrongTenant = await authzctl('check', '--address', sidecar.grpcAddress, '--path', '/api/orders', '-H', 'x-tenant-id: other', '--token', token);
    assert.match(wrongTenant.stdout, /^DENY 403 \(default_deny\)/);
  });

  it('passes the example policy test cases', async () => {
    const run = await authzctl('policy', 'test', 'deploy/examples/policy.yaml', '--cases', 'deploy/examples/policy.cases.yaml');
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /cases: \d+ passed, 0 failed/);
  });
});
