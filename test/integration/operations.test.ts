import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, copyFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { keyPair, startJwksServer, startConformanceEnv } from '../../testkit/conformance-env.js';
import { EnvoyClient, envoyRequest } from '../../testkit/envoy-client.js';
import { EXAMPLES, FIXTURES, SIDECAR_BIN } from '../../testkit/paths.js';
import { startSidecar, tempDir, writeConfig } from '../../testkit/sidecar.js';
import { mint } from '../../testkit/tokens.js';

const run = promisify(execFile);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function exampleDir(): string {
  const dir = tempDir();
  mkdirSync(join(dir, 'keys'));
  cpSync(`${EXAMPLES}/keys`, join(dir, 'keys'), { recursive: true });
  copyFileSync(`${FIXTURES}/conformance/policy.yaml`, join(dir, 'policy.yaml'));
  return dir;
}

const remoteConfig = (url: string) => `service: orders
issuers:
  - name: remote
    issuer: https://remote.example.test
    audiences: [orders]
    keys: { url: "${url}", cooldownSeconds: 1, timeoutMs: 3000 }
policy: { file: policy.yaml }
shutdown: { drainSeconds: 5 }
`;

describe('operations: probes, readiness, draining, config errors', () => {
  it('serves /healthz and /readyz, and 404 elsewhere', async () => {
    const env = await startConformanceEnv();
    try {
      const health = await fetch(`${env.sidecar.adminUrl}/healthz`);
      assert.equal(health.status, 200);
      const ready = await fetch(`${env.sidecar.adminUrl}/readyz`);
      assert.equal(ready.status, 200);
      assert.deepEqual(await ready.json(), { ready: true, reasons: [] });
      assert.equal((await fetch(`${env.sidecar.adminUrl}/nope`)).status, 404);
    } finally {
      await env.close();
    }
  });

  it('is not ready until the keys a policy needs are loaded, then becomes ready on its own', async () => {
    const port = await freePort();
    const dir = exampleDir();
    const sidecar = await startSidecar(writeConfig(dir, remoteConfig(`http://127.0.0.1:${port}/jwks.json`)));
    const client = new EnvoyClient(sidecar.grpcAddress);
    try {
      const notReady = await fetch(`${sidecar.adminUrl}/readyz`);
      assert.equal(notReady.status, 503);
      assert.deepEqual((await notReady.json()).reasons, ['keys not loaded: remote']);
      assert.equal((await client.healthCheck()).status, 'NOT_SERVING');

      const key = await keyPair('r1');
      const jwks = await startJwksServer([key.publicJwk], port);
      try {
        await sidecar.waitForLog((line) => line.msg === 'ready', 5_000);
        assert.equal((await fetch(`${sidecar.adminUrl}/readyz`)).status, 200);
        assert.equal((await client.healthCheck()).status, 'SERVING');
        const token = await mint({ scope: 'orders:read' }, { jwk: key.privateJwk, issuer: 'https://remote.example.test' });
        const result = await client.check(envoyRequest({ path: '/public/x', headers: { authorization: `Bearer ${token}` } }));
        assert.equal(result.status.code, 0);
      } finally {
        await jwks.close();
      }
    } finally {
      client.close();
      await sidecar.stop();
    }
  });

  it('on SIGTERM finishes the in-flight Check, refuses new ones and exits 0', async () => {
    const first = await keyPair('r1');
    const jwks = await startJwksServer([first.publicJwk]);
    const dir = exampleDir();
    const sidecar = await startSidecar(writeConfig(dir, remoteConfig(jwks.url)));
    const client = new EnvoyClient(sidecar.grpcAddress);
    try {
      await sidecar.waitForLog((line) => line.msg === 'ready' || (line.msg === 'serving' && line.ready === true));
      // A token with a new kid makes the sidecar refetch the JWKS; the server answers slowly,
      // so the Check is still in flight when SIGTERM arrives.
      const second = await keyPair('r2');
      jwks.keys = [first.publicJwk, second.publicJwk];
      jwks.delayMs = 800;
      await new Promise((r) => setTimeout(r, 1_100)); // let the refetch cooldown pass
      const token = await mint({}, { jwk: second.privateJwk, issuer: 'https://remote.example.test' });
      const inflight = client.check(envoyRequest({ path: '/public/x', headers: { authorization: `Bearer ${token}` } }), 10_000);
      await new Promise((r) => setTimeout(r, 200));
      const exit = sidecar.stop('SIGTERM');
      const result = await inflight;
      assert.equal(result.status.code, 0, 'the in-flight Check completed with its real decision');
      assert.equal(await exit, 0);
      await sidecar.waitForLog((line) => line.msg === 'stopped' && line.outcome === 'drained');
      await assert.rejects(new EnvoyClient(sidecar.grpcAddress).check(envoyRequest({ path: '/public/x' }), 1_000));
    } finally {
      client.close();
      await jwks.close();
    }
  });

  const BAD_CONFIGS: Array<[string, string, RegExp]> = [
    ['unknown field', 'service: orders\npolicy: { file: policy.yaml }\ngrpcc: {}\n', /config\.yaml:3:1: grpcc: /],
    [
      'alg none',
      'service: orders\npolicy: { file: policy.yaml }\nissuers: [{ name: idp, issuer: x, audiences: [a], algorithms: [none], keys: { file: keys/idp.jwks.json } }]\n',
      /config\.yaml:3:\d+: issuers\[0\]\.algorithms\[0\]: unsupported algorithm "none"/,
    ],
    [
      'HS256 without a secret',
      'service: orders\npolicy: { file: policy.yaml }\nissuers: [{ name: idp, issuer: x, audiences: [a], algorithms: [HS256], keys: { file: keys/idp.jwks.json } }]\n',
      /config\.yaml:3:\d+: issuers\[0\]\.algorithms: HS256 requires keys\.secretFile/,
    ],
    [
      'two key sources',
      'service: orders\npolicy: { file: policy.yaml }\nissuers: [{ name: idp, issuer: x, audiences: [a], keys: { file: a, url: "https://x" } }]\n',
      /config\.yaml:3:\d+: issuers\[0\]\.keys: must name exactly one of/,
    ],
    [
      'missing audiences',
      'service: orders\npolicy: { file: policy.yaml }\nissuers: [{ name: idp, issuer: x, keys: { file: keys/idp.jwks.json } }]\n',
      /config\.yaml:3:\d+: issuers\[0\]\.audiences: /,
    ],
    ['YAML syntax', 'service: orders\n  policy: [\n', /config\.yaml:1:10: \(document\): Nested mappings are not allowed/],
    ['missing policy file', 'service: orders\npolicy: { file: nope.yaml }\n', /config\.yaml:2:17: policy\.file: cannot read nope\.yaml: no such file$/],
    [
      'policy for another service',
      'service: billing\npolicy: { file: policy.yaml }\n',
      /policy\.yaml:3:\d+: metadata\.service: is "orders" but this sidecar serves "billing"/,
    ],
    [
      'private key in a key set',
      'service: orders\npolicy: { file: policy.yaml }\nissuers: [{ name: idp, issuer: x, audiences: [a], keys: { file: keys/idp-dev-1.private.jwk.json } }]\n',
      /config\.yaml:3:\d+: issuers\[0\]\.keys\.file: keys\/idp-dev-1\.private\.jwk\.json: is a single private JWK/,
    ],
    [
      'short HS secret',
      'service: orders\npolicy: { file: policy.yaml }\nissuers: [{ name: hs, issuer: x, audiences: [a], algorithms: [HS256], keys: { secretFile: policy.yaml } }]\n',
      /secret/,
    ],
  ];

  for (const [name, yaml, expected] of BAD_CONFIGS) {
    it(`exits 2 with one line naming file and field: ${name}`, async () => {
      const dir = exampleDir();
      if (name === 'short HS secret') (await import('node:fs')).writeFileSync(join(dir, 'policy.yaml'), 'x'.repeat(16));
      const config = writeConfig(dir, yaml);
      const outcome = await run(process.execPath, [SIDECAR_BIN, '--config', config]).then(
        () => ({ code: 0, stderr: '' }),
        (error: { code: number; stderr: string }) => error,
      );
      assert.equal(outcome.code, 2);
      const lines = outcome.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, outcome.stderr);
      assert.match(lines[0], expected);
      assert.doesNotMatch(outcome.stderr, /\n\s+at /, 'no stack trace');
    });
  }

  it('--check-config validates without serving', async () => {
    const { stdout } = await run(process.execPath, [SIDECAR_BIN, '--config', `${EXAMPLES}/config.yaml`, '--check-config']);
    assert.match(stdout, /config\.yaml: ok/);
  });
});
