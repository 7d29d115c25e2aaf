import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { keyPair, startJwksServer, type JwksServer } from '../../testkit/conformance-env.js';
import { EnvoyClient, denyBody, envoyRequest, headerOf, httpStatus, type CheckResult } from '../../testkit/envoy-client.js';
import { FIXTURES } from '../../testkit/paths.js';
import { startSidecar, tempDir, writeConfig, type SidecarProcess } from '../../testkit/sidecar.js';
import { mint } from '../../testkit/tokens.js';
import { sleep } from '../../testkit/wait.js';

// Two issuers with remote JWKS: "closed" (the default) and "open" (failOpen: true). Both
// JWKS endpoints go away; a token whose kid the sidecar has never seen then cannot be
// checked. Only the opted-in issuer lets it through, and never with an identity.
const config = (closedUrl: string, openUrl: string) => `service: orders
issuers:
  - name: closed
    issuer: https://closed.example.test
    audiences: [orders]
    keys: { url: "${closedUrl}", cooldownSeconds: 1, timeoutMs: 1000 }
  - name: open
    issuer: https://open.example.test
    audiences: [orders]
    keys: { url: "${openUrl}", cooldownSeconds: 1, timeoutMs: 1000 }
    failOpen: true
policy: { file: policy.yaml }
`;

const POLICY_ISSUERS = '["https://idp.example.test", "https://hs.example.test", "https://remote.example.test"]';

interface Issuer {
  readonly name: string;
  readonly iss: string;
  readonly known: { publicJwk: JWK; privateJwk: JWK };
  readonly rotated: { publicJwk: JWK; privateJwk: JWK };
  jwks: JwksServer;
}

describe('fail-open: per-issuer switch against the real binary', () => {
  let sidecar: SidecarProcess;
  let client: EnvoyClient;
  const issuers: Record<'closed' | 'open', Issuer> = {} as never;

  const token = (issuer: Issuer, key: 'known' | 'rotated') =>
    mint({ scope: 'orders:read', roles: ['customer'] }, { jwk: issuer[key].privateJwk, issuer: issuer.iss });
  const check = async (issuer: Issuer, key: 'known' | 'rotated'): Promise<CheckResult> =>
    client.check(envoyRequest({ path: '/api/orders', headers: { authorization: `Bearer ${await token(issuer, key)}`, 'x-auth-subject': 'spoofed' } }));
  const metric = async (name: string): Promise<number> => {
    const text = await (await fetch(`${sidecar.adminUrl}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`authz_fail_open_total{scope="issuer",name="${name}",cause="keys_unavailable"}`));
    return line === undefined ? 0 : Number(line.split(' ').at(-1));
  };

  before(async () => {
    for (const name of ['closed', 'open'] as const) {
      const known = await keyPair(`${name}-1`);
      issuers[name] = { name, iss: `https://${name}.example.test`, known, rotated: await keyPair(`${name}-2`), jwks: await startJwksServer([known.publicJwk]) };
    }
    const dir = tempDir();
    copyFileSync(`${FIXTURES}/conformance/policy.yaml`, join(dir, 'policy.yaml'));
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, readFileSync(policy, 'utf8').replace(POLICY_ISSUERS, '["https://closed.example.test", "https://open.example.test"]'));
    sidecar = await startSidecar(writeConfig(dir, config(issuers.closed.jwks.url, issuers.open.jwks.url)));
    client = new EnvoyClient(sidecar.grpcAddress);
    await sidecar.waitForLog((line) => line.msg === 'ready' || (line.msg === 'serving' && line.ready === true), 10_000);
  });

  after(async () => {
    client?.close();
    await sidecar?.stop();
    for (const issuer of Object.values(issuers)) await issuer.jwks.close();
  });

  it('with the JWKS endpoints up, both issuers verify normally and an unknown kid is a 401', async () => {
    for (const issuer of Object.values(issuers)) {
      const ok = await check(issuer, 'known');
      assert.equal(ok.status.code, 0, issuer.name);
      assert.equal(headerOf(ok.ok_response?.headers, 'x-auth-issuer'), issuer.iss);
      await sleep(1_100); // past the refetch cooldown, so the unknown kid causes a (successful) fetch
      const unknown = await check(issuer, 'rotated');
      assert.deepEqual(
        [httpStatus(unknown), denyBody(unknown).reason],
        [401, 'token_key_unknown'],
        `${issuer.name}: reachable JWKS without the kid is the token's fault`,
      );
    }
    assert.equal(await metric('open'), 0);
  });

  it('with the JWKS endpoints gone, an unknown kid is 503 keys_unavailable — or allowed without identity where the issuer opted in', async () => {
    for (const issuer of Object.values(issuers)) await issuer.jwks.close();
    await sleep(1_100);

    const closed = await check(issuers.closed, 'rotated');
    assert.deepEqual([closed.status.code, httpStatus(closed), denyBody(closed).reason], [14, 503, 'keys_unavailable']);

    const open = await check(issuers.open, 'rotated');
    assert.equal(open.status.code, 0, 'the opted-in issuer fails open');
    assert.equal(open.dynamic_metadata?.fields.reason?.stringValue, 'fail_open');
    assert.equal(headerOf(open.ok_response?.headers, 'x-auth-subject'), undefined, 'no identity is asserted');
    assert.ok(open.ok_response?.headers_to_remove?.includes('x-auth-subject'), 'a spoofed identity header is stripped');
    assert.equal(await metric('open'), 1);
    await sidecar.waitForLog((line) => line.msg === 'fail-open allow' && line.name === 'open' && line.cause === 'keys_unavailable');

    // Keys already held still verify: fail-open never replaces a verification that can be made.
    const known = await check(issuers.open, 'known');
    assert.equal(headerOf(known.ok_response?.headers, 'x-auth-issuer'), issuers.open.iss);
    const forged = `${(await token(issuers.open, 'known')).slice(0, -4)}AAAA`;
    const refused = await client.check(envoyRequest({ path: '/api/orders', headers: { authorization: `Bearer ${forged}` } }));
    assert.equal(httpStatus(refused), 401, 'a bad signature under a held key is refused even on the open issuer');
    assert.equal(await metric('open'), 1);
  });

  it('once the JWKS is back with the new key, the token is verified again, not waved through', async () => {
    const open = issuers.open;
    const port = Number(new URL(open.jwks.url).port);
    open.jwks = await startJwksServer([open.known.publicJwk, open.rotated.publicJwk], port);
    await sleep(1_100);
    const result = await check(open, 'rotated');
    assert.equal(result.status.code, 0);
    assert.equal(headerOf(result.ok_response?.headers, 'x-auth-issuer'), open.iss, 'verified, with identity');
    assert.equal(result.dynamic_metadata?.fields.reason?.stringValue, 'allowed_by_rule');
    assert.equal(await metric('open'), 1);
    issuers.closed.jwks = await startJwksServer([issuers.closed.known.publicJwk]); // for after()
  });
});
