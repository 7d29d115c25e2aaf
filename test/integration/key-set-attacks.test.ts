import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { keyPair, startJwksServer, type JwksServer } from '../../testkit/conformance-env.js';
import { EnvoyClient, denyBody, envoyRequest, httpStatus, type CheckResult } from '../../testkit/envoy-client.js';
import { buildAttacks, type AttackKeys, type KeySetAttack, type Via } from '../../testkit/key-set-attacks.js';
import { createBucket, kvWriter, startNatsServer, type NatsServer } from '../../testkit/nats-server.js';
import { replaceFile, startSidecar, tempDir, writeConfig, type SidecarProcess } from '../../testkit/sidecar.js';
import { ordersPolicy } from '../../testkit/sidecar-dir.js';
import { mint } from '../../testkit/tokens.js';
import { until } from '../../testkit/wait.js';
import { loadSigningKey, type ControlSigningKey } from '../../src/control/signers.js';
import { signDocument } from '../../src/control/signed.js';

/**
 * Every hostile key set of testkit/key-set-attacks.ts, delivered to one running sidecar
 * (a) as a rewritten JWKS file and (b) as a properly signed control-plane document over a
 * real nats-server. Each is refused with its code (log line and metrics) or handled as
 * documented, and in every case the last good key keeps working while the attacking key never does.
 */
const ISSUERS: Record<Via, { name: string; iss: string }> = {
  file: { name: 'file-idp', iss: 'https://file-idp.example.test' },
  nats: { name: 'nats-idp', iss: 'https://nats-idp.example.test' },
};
const KV_KEY = 'keys.issuer.nats-idp';

describe('key-set attacks from files and over the control plane', () => {
  let nats: NatsServer;
  let hostile: JwksServer;
  let sidecar: SidecarProcess;
  let client: EnvoyClient;
  let keys: AttackKeys;
  let jwksPath: string;
  let signing: ControlSigningKey;
  let writer: Awaited<ReturnType<typeof kvWriter>>;
  let revision = 0;

  const check = (token: string): Promise<CheckResult> => client.check(envoyRequest({ path: '/api/orders', headers: { authorization: `Bearer ${token}` } }));
  const goodToken = (via: Via) => mint({ roles: ['customer'] }, { jwk: keys.good.privateJwk, issuer: ISSUERS[via].iss });

  /** Waits for a log line after `mark` (a count of lines) that `predicate` likes. */
  const logAfter = async (mark: number, what: string, predicate: (l: Record<string, unknown>) => boolean) => {
    let found: Record<string, unknown> | undefined;
    await until(what, () => (found = sidecar.logs.slice(mark).find(predicate)) !== undefined, 5_000);
    return found!;
  };

  /** Delivers `attack` one way; resolves the key-set log line it produced. */
  async function deliver(attack: Pick<KeySetAttack, 'body' | 'fileBytes' | 'expect'>, via: Via): Promise<Record<string, unknown>> {
    const mark = sidecar.logs.length;
    const name = ISSUERS[via].name;
    const refused = 'refused' in attack.expect;
    if (via === 'file') {
      // Written aside, then renamed (as Kubernetes swaps files), so the poller never reads half a file.
      replaceFile(jwksPath, attack.fileBytes ?? JSON.stringify(attack.body));
    } else {
      // Plain JSON (no undefined members), signed exactly as authzctl signs.
      const body = JSON.parse(JSON.stringify(attack.body));
      await writer.put(
        KV_KEY,
        await signDocument({ kind: 'keys', target: 'issuer/nats-idp', revision: ++revision, issuedAt: Math.floor(Date.now() / 1000), body }, signing),
      );
      const outcome = await logAfter(
        mark,
        `control outcome of revision ${revision}`,
        (l) => l.kv_key === KV_KEY && (l.msg === 'control document applied' || l.msg === 'control document rejected; keeping the last good state'),
      );
      if (refused) assert.equal(outcome.code, 'document_invalid_body', JSON.stringify(outcome));
      else assert.equal(outcome.msg, 'control document applied', JSON.stringify(outcome));
    }
    return logAfter(
      mark,
      `key set event for ${name}`,
      (l) => l.keys === name && (l.msg === 'key set loaded' || l.msg === 'key set rejected; keeping the previous set'),
    );
  }

  async function metricValue(name: string, labels: Record<string, string>): Promise<number> {
    const text = await (await fetch(`${sidecar.adminUrl}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
  }

  before(async () => {
    nats = await startNatsServer();
    await createBucket(nats.url, 'authz');
    writer = await kvWriter(nats.url, 'authz');
    hostile = await startJwksServer([]);
    keys = await buildAttacks(hostile.url);
    hostile.keys = [keys.attacker.publicJwk];

    const dir = tempDir();
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { extractable: true });
    writeFileSync(join(dir, 'cp.jwk.json'), JSON.stringify({ ...(await exportJWK(privateKey)), kid: 'cp-test', alg: 'EdDSA' }));
    writeFileSync(join(dir, 'cp.pub.jwk.json'), JSON.stringify({ ...(await exportJWK(publicKey)), kid: 'cp-test', alg: 'EdDSA' }));
    signing = await loadSigningKey(join(dir, 'cp.jwk.json'));
    jwksPath = join(dir, 'file-idp.jwks.json');
    writeFileSync(jwksPath, JSON.stringify({ keys: [keys.good.publicJwk] }));
    writeFileSync(join(dir, 'policy.yaml'), ordersPolicy({ issuers: [ISSUERS.file.iss, ISSUERS.nats.iss] }));
    const issuer = (via: Via, source: string) => `  - name: ${ISSUERS[via].name}
    issuer: ${ISSUERS[via].iss}
    audiences: [orders]
    algorithms: [ES256, RS256, EdDSA]
    keys: ${source}
`;
    const config = writeConfig(
      dir,
      `service: orders
issuers:
${issuer('file', '{ file: file-idp.jwks.json }')}${issuer('nats', '{ nats: true }')}policy: { file: policy.yaml }
nats:
  servers: ["${nats.url}"]
  bucket: authz
  signers: [cp.pub.jwk.json]
  cacheDir: cache
watch: { intervalMs: 50 }
log: { level: info, denyLinesPerSecond: 0 }
`,
    );
    sidecar = await startSidecar(config);
    client = new EnvoyClient(sidecar.grpcAddress);
    await deliver({ body: { keys: [keys.good.publicJwk] }, expect: { accepted: ['good-1'] } }, 'nats');
  });

  after(async () => {
    client?.close();
    await sidecar?.stop();
    await writer?.close();
    await hostile?.close();
    await nats?.stop();
  });

  it('starts with the good key from both sources', async () => {
    for (const via of ['file', 'nats'] as const) assert.equal((await check(await goodToken(via))).status.code, 0, via);
  });

  it('refuses each attack with its code, or handles it as documented, keeping the last good key', async (t) => {
    const refusals = new Map<string, number>();
    let natsRefused = 0;
    for (const attack of keys.attacks) {
      await Promise.all(
        attack.via.map(async (via) => {
          const event = await deliver(attack, via);
          const where = `${attack.name} (${via})`;
          if ('refused' in attack.expect) {
            assert.equal(event.msg, 'key set rejected; keeping the previous set', where);
            assert.equal(event.code, attack.expect.refused, where);
            assert.equal(event.origin, via === 'file' ? 'file' : 'control-plane', where);
            const key = `${ISSUERS[via].name}/${attack.expect.refused}`;
            refusals.set(key, (refusals.get(key) ?? 0) + 1);
            if (via === 'nats') natsRefused++;
          } else {
            assert.equal(event.msg, 'key set loaded', where);
            assert.deepEqual(event.kids, attack.expect.accepted, where);
          }
          const good = await check(await goodToken(via));
          assert.equal(good.status.code, 0, `${where}: the good key still verifies`);
          if (attack.token) {
            const bad = await check(await attack.token(ISSUERS[via].iss));
            assert.equal(bad.status.code, 16, `${where}: a token signed by the attacking key is refused (${denyBody(bad).reason})`);
            assert.equal(httpStatus(bad), 401, where);
          }
          if ('accepted' in attack.expect) {
            // Back to the baseline, so the next accepted row is a change again.
            const reset = await deliver({ body: { keys: [keys.good.publicJwk] }, expect: { accepted: ['good-1'] } }, via);
            assert.deepEqual(reset.kids, ['good-1']);
          }
        }),
      );
    }
    for (const [key, count] of refusals) {
      const [name, code] = key.split('/') as [string, string];
      assert.equal(await metricValue('authz_key_set_rejections_total', { name, code }), count, key);
    }
    assert.equal(await metricValue('authz_control_rejections_total', { key: KV_KEY, code: 'document_invalid_body' }), natsRefused);
    assert.equal(hostile.hits, 0, 'no x5u/jku URL was ever fetched');
    assert.equal(sidecar.child.exitCode, null, 'the sidecar is still running');
    t.diagnostic(
      `${keys.attacks.length} attacks, ${keys.attacks.reduce((n, a) => n + a.via.length, 0)} deliveries, ${[...refusals.values()].reduce((a, b) => a + b, 0)} refusals`,
    );
  });

  it('a set that replaces every kid is a legitimate rotation: accepted, old tokens refused at once (cached ones too)', async () => {
    const next = await keyPair('next-1');
    for (const via of ['file', 'nats'] as const) {
      const old = await goodToken(via);
      assert.equal((await check(old)).status.code, 0, 'old token allowed and cached');
      const event = await deliver({ body: { keys: [next.publicJwk] }, expect: { accepted: ['next-1'] } }, via);
      assert.deepEqual(event.kids, ['next-1']);
      assert.equal(denyBody(await check(old)).reason, 'token_key_unknown', via);
      assert.equal((await check(await mint({ roles: ['customer'] }, { jwk: next.privateJwk, issuer: ISSUERS[via].iss }))).status.code, 0, via);
    }
  });
});
