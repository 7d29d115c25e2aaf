import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { keyPair } from '../../testkit/conformance-env.js';
import { EnvoyClient, denyBody, envoyRequest, headerOf, httpStatus } from '../../testkit/envoy-client.js';
import { startSidecar, tempDir, writeConfig, type SidecarProcess } from '../../testkit/sidecar.js';
import { ordersPolicy } from '../../testkit/sidecar-dir.js';
import { createTestCa, testCaUnavailable, type TestCa } from '../../testkit/test-ca.js';
import { startTestIdp, type DiscoveryMode, type TestIdp } from '../../testkit/test-idp.js';
import { mint } from '../../testkit/tokens.js';
import { sleep, until } from '../../testkit/wait.js';

// keys.discovery against a local HTTPS IdP, with the real binary: the JWKS is found through
// the discovery document, follows rotation, and every hostile document leaves the issuer
// without keys (503), with the reason on /readyz and in the log.
const unavailable = testCaUnavailable();

describe('discovery: keys through /.well-known/openid-configuration, real binary', { skip: unavailable }, () => {
  let ca: TestCa;
  let idp: TestIdp;
  let first: { publicJwk: JWK; privateJwk: JWK };
  let second: { publicJwk: JWK; privateJwk: JWK };
  const started: SidecarProcess[] = [];

  const sidecarFor = async (target: TestIdp): Promise<{ sidecar: SidecarProcess; client: EnvoyClient }> => {
    const dir = tempDir();
    writeFileSync(join(dir, 'policy.yaml'), ordersPolicy({ issuers: [target.issuer] }));
    const config = `service: orders
issuers:
  - name: idp
    issuer: "${target.issuer}"
    audiences: [orders]
    keys: { discovery: "${target.issuer}", cooldownSeconds: 1, timeoutMs: 1000 }
policy: { file: policy.yaml }
`;
    const sidecar = await startSidecar(writeConfig(dir, config), { env: { NODE_EXTRA_CA_CERTS: ca.caFile } });
    started.push(sidecar);
    return { sidecar, client: new EnvoyClient(sidecar.grpcAddress) };
  };
  const token = (key: JWK, target = idp) => mint({ sub: 'alice' }, { jwk: key, issuer: target.issuer });
  const check = async (client: EnvoyClient, jwt: string) => client.check(envoyRequest({ path: '/api/orders', headers: { authorization: `Bearer ${jwt}` } }));

  before(async () => {
    ca = createTestCa();
    first = await keyPair('disc-1');
    second = await keyPair('disc-2');
    idp = await startTestIdp({ ca, jwks: [first.publicJwk], clientId: 'unused' });
  });

  after(async () => {
    for (const sidecar of started) await sidecar.stop();
    await idp?.close();
  });

  it('finds the JWKS through the document, follows a rotation, and drops tokens of a removed key at once', async () => {
    const { sidecar, client } = await sidecarFor(idp);
    await sidecar.waitForLog((line) => line.msg === 'key set loaded' && line.origin === 'discovery');
    assert.ok(idp.calls.discovery >= 1 && idp.calls.jwks >= 1);
    const old = await token(first.privateJwk);
    const allowed = await check(client, old);
    assert.equal(allowed.status.code, 0, JSON.stringify(allowed.denied_response?.body));
    assert.equal(headerOf(allowed.ok_response?.headers, 'x-auth-subject'), 'alice');

    // Rotation: the IdP now publishes only the new key; a token with the new kid makes the sidecar refetch.
    idp.jwks = [second.publicJwk];
    await sleep(1_100); // the unknown-kid cooldown
    const jwksBefore = idp.calls.jwks;
    const rotated = await check(client, await token(second.privateJwk));
    assert.equal(rotated.status.code, 0, 'the new key was fetched on its unknown kid');
    assert.equal(idp.calls.jwks - jwksBefore, 1);
    const dropped = await check(client, old);
    assert.deepEqual([httpStatus(dropped), denyBody(dropped).reason], [401, 'token_key_unknown'], "the changed set cleared the issuer's token cache");
    client.close();
  });

  const hostile: Array<[DiscoveryMode, RegExp]> = [
    ['issuer-mismatch', /"issuer"/],
    ['http-jwks-off-loopback', /jwks_uri.*not https/],
    ['redirect', /redirect/],
    ['huge', /larger than/],
    ['not-json', /content-type|JSON/i],
    ['hang', /no complete answer within 1000 ms/],
  ];
  for (const [mode, reason] of hostile) {
    it(`a document that is ${mode}: no keys, 503 keys_unavailable, the reason on /readyz and in the log`, async () => {
      const target = await startTestIdp({ ca, jwks: [first.publicJwk], clientId: 'unused' });
      target.discovery = mode;
      try {
        const { sidecar, client } = await sidecarFor(target);
        const line = await sidecar.waitForLog((l) => l.msg === 'key set rejected; keeping the previous set' && l.code === 'discovery_failed', 5_000);
        assert.match(String(line.reason), reason);
        const readyz = await fetch(`${sidecar.adminUrl}/readyz`);
        assert.equal(readyz.status, 503);
        const reasons = ((await readyz.json()) as { reasons: string[] }).reasons;
        assert.ok(
          reasons.some((r) => r.startsWith('keys not loaded: idp (discovery document') && reason.test(r)),
          JSON.stringify(reasons),
        );
        const denied = await check(client, await token(first.privateJwk, target));
        assert.deepEqual([httpStatus(denied), denyBody(denied).reason], [503, 'keys_unavailable']);
        assert.equal(target.calls.jwks, 0, 'the JWKS was never fetched');
        client.close();
        // Healed: the next retry (cooldown) reads a good document and the issuer gets its keys.
        target.discovery = 'normal';
        await until('ready', () => sidecar.logs.some((l) => l.msg === 'key set loaded'), 5_000);
        assert.equal((await fetch(`${sidecar.adminUrl}/readyz`)).status, 200);
      } finally {
        await target.close();
      }
    });
  }
});
