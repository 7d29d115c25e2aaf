import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { EnvoyClient, denyBody, envoyRequest, httpStatus, type CheckResult } from '../../testkit/envoy-client.js';
import { replaceFile, startSidecar, type SidecarProcess } from '../../testkit/sidecar.js';
import { ordersPolicy, writeSidecarDir } from '../../testkit/sidecar-dir.js';
import { mint } from '../../testkit/tokens.js';
import { until } from '../../testkit/wait.js';

/**
 * Resource limits against the real binary: gRPC message size, header limits, CEL bounds and
 * RE2 pattern refusals on policy reload, the policy size cap, and the verified-token cache
 * under a flood of unique tokens.
 */
const policy = (extraRules = '') =>
  ordersPolicy({
    rules: `    - name: probe
      action: ALLOW
      to: [{ paths: ["/probe"] }]
      when: 'request.headers["x-probe"].matches("^[a-z]+$")'
${extraRules}`,
  });

const CACHE_BOUND = 500;
/** Valid unique tokens in the flood (3x the bound here; FLOOD_TOKENS=20000 for the documented figures). */
const FLOOD = Number(process.env.FLOOD_TOKENS ?? 3 * CACHE_BOUND);

describe('resource limits of the running sidecar', () => {
  let dir: string;
  let sidecar: SidecarProcess;
  let client: EnvoyClient;

  const check = (shape: Parameters<typeof envoyRequest>[0]): Promise<CheckResult> => client.check(envoyRequest(shape));
  const metric = async (name: string, labels = ''): Promise<number> => {
    const text = await (await fetch(`${sidecar.adminUrl}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  const stillServing = async () => {
    const token = await mint({ roles: ['customer'] });
    assert.equal((await check({ path: '/api/orders', headers: { authorization: `Bearer ${token}` } })).status.code, 0, 'still allows a good request');
  };

  before(async () => {
    const written = writeSidecarDir({ issuer: 'bare', policy: policy(), tokenCacheEntries: CACHE_BOUND, watchIntervalMs: 50 });
    dir = written.dir;
    sidecar = await startSidecar(written.configPath);
    client = new EnvoyClient(sidecar.grpcAddress);
  });
  after(async () => {
    client?.close();
    await sidecar?.stop();
  });

  it('answers a CheckRequest over grpc.maxMessageBytes (1 MiB) with RESOURCE_EXHAUSTED and keeps serving', async () => {
    await assert.rejects(
      check({ path: '/api/orders', headers: { 'x-big': 'a'.repeat(1100 * 1024) } }),
      (error: { code: number }) => error.code === status.RESOURCE_EXHAUSTED,
    );
    await stillServing();
  });

  it('denies 431 with a reason code on too many headers, too many header bytes, one huge header', async () => {
    const many = Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`x-h${i}`, 'v']));
    const bulky = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`x-h${i}`, 'v'.repeat(8 * 1024)]));
    const cases: Array<[string, Record<string, string>, string]> = [
      ['201 headers', many, 'too_many_headers'],
      ['80 KiB over 10 headers', bulky, 'header_too_large'],
      ['one 70 KiB header', { 'x-one': 'v'.repeat(70 * 1024) }, 'header_too_large'],
    ];
    for (const [name, headers, reason] of cases) {
      const result = await check({ path: '/api/orders', headers });
      assert.equal(httpStatus(result), 431, name);
      assert.equal(denyBody(result).reason, reason, name);
    }
    await stillServing();
  });

  it('evaluates an accepted regex over a 64 KiB header without backtracking away', async () => {
    assert.equal((await check({ path: '/probe', headers: { 'x-probe': 'abc' } })).status.code, 0);
    const hostile = await check({ path: '/probe', headers: { 'x-probe': `${'a'.repeat(60 * 1024)}!` } });
    // Answered (anonymous, the rule's `when` false: the default deny), not stuck in the regex.
    assert.equal(denyBody(hostile).reason, 'credentials_missing');
  });

  it('refuses policies with unbounded CEL, regexes RE2 refuses or over 4 MiB, keeping the policy in force', async () => {
    const rule = (when: string) => `    - name: hostile\n      action: ALLOW\n      to: [{ paths: ["/open"] }]\n      when: '${when}'\n`;
    const cases: Array<[string, string, RegExp]> = [
      [
        'list doubling',
        rule('[[1]]' + '.map(a, a + a)'.repeat(30) + '.size() > 0'),
        /spec\.rules\[2\] \(hostile\)\.when: map\(\): comprehensions may not be nested or chained/,
      ],
      ['nested comprehensions', rule('request.auth.roles.all(a, request.auth.roles.exists(b, a == b))'), /comprehensions may not be nested or chained/],
      ['split without a limit', rule('request.headers["x"].split(",").size() > 1'), /split\(\) needs a literal limit/],
      [
        'regex backreference',
        rule('request.headers["x"].matches("(a+)\\\\1")'),
        /spec\.rules\[2\] \(hostile\)\.when: matches\("\(a\+\)\\\\1"\): backreferences are not supported/,
      ],
      ['regex lookahead', rule('request.headers["x"].matches("a(?=b)")'), /lookarounds are not supported/],
      ['oversized regex', rule('request.headers["x"].matches("\\\\p{L}{1000}")'), /compiles to 1002 instructions \(at most 500\)/],
      ['json()', rule('bytes(request.headers["x"]).json().size() > 0'), /json\(\) is not allowed/],
      [
        'a 5 MiB policy',
        rule('true') + `    - name: pad\n      action: DENY\n      description: "${'x'.repeat(5 * 1024 * 1024)}"\n`,
        /\(document\): is \d+ characters \(at most 4194304\)/,
      ],
    ];
    for (const [name, extra, reason] of cases) {
      const mark = sidecar.logs.length;
      // Written aside, then renamed (as Kubernetes swaps files), so the poller never reads half a file.
      replaceFile(join(dir, 'policy.yaml'), policy(extra));
      let line: Record<string, unknown> | undefined;
      await until(
        `policy rejection: ${name}`,
        () => (line = sidecar.logs.slice(mark).find((l) => l.msg === 'policy rejected; keeping the previous policy')) !== undefined,
        10_000,
      );
      assert.equal(line!.code, 'policy_invalid', name);
      assert.match(String(line!.reason), reason, name);
      assert.notEqual((await check({ path: '/open' })).status.code, 0, `${name}: the refused rule is not in force`);
      await stillServing();
    }
    assert.equal(await metric('authz_policy_rejections_total', '{service="orders"}'), cases.length);
  });

  it(`keeps the token cache at tokenCache.maxEntries (${CACHE_BOUND}) under a flood of unique tokens; junk is never cached`, async (t) => {
    const rssBefore = await metric('authz_process_resident_memory_bytes');
    const entries = () => metric('authz_token_cache_entries', '{issuer="idp"}');
    const flood = async (tokens: string[], expectCode: number) => {
      let next = 0;
      const worker = async () => {
        while (next < tokens.length) {
          const token = tokens[next++];
          const result = await check({ path: '/api/orders', headers: { authorization: `Bearer ${token}` } });
          assert.equal(result.status.code, expectCode, `${denyBody(result).reason}`);
        }
      };
      await Promise.all(Array.from({ length: 32 }, worker));
    };
    const valid = await mint({ roles: ['customer'] });
    const [head, body] = valid.split('.');
    const junk: string[] = [
      ...Array.from({ length: 600 }, () => randomBytes(60).toString('base64url')),
      ...Array.from({ length: 600 }, () => `${head}.${body}.${randomBytes(64).toString('base64url')}`),
      ...(await Promise.all(Array.from({ length: 300 }, () => mint({ roles: ['customer'] }, { ttlSeconds: -120 })))),
    ];
    const cachedBefore = await entries();
    await flood(junk, status.UNAUTHENTICATED);
    assert.equal(await entries(), cachedBefore, 'no refused token was cached');
    const started = performance.now();
    const unique = await Promise.all(Array.from({ length: FLOOD }, (_, i) => mint({ roles: ['customer'], n: i })));
    const minted = performance.now();
    await flood(unique, 0);
    t.diagnostic(`minting ${unique.length} tokens: ${(minted - started).toFixed(0)} ms; checking them: ${(performance.now() - minted).toFixed(0)} ms`);
    assert.equal(await entries(), CACHE_BOUND, 'the cache holds exactly its bound');
    const rssAfter = await metric('authz_process_resident_memory_bytes');
    t.diagnostic(
      `${junk.length} junk + ${unique.length} valid unique tokens; cache entries ${await entries()}; RSS ${(rssBefore / 2 ** 20).toFixed(0)} MiB -> ${(rssAfter / 2 ** 20).toFixed(0)} MiB`,
    );
    assert.ok(rssAfter - rssBefore < 256 * 2 ** 20, `RSS grew by ${((rssAfter - rssBefore) / 2 ** 20).toFixed(0)} MiB`);
    assert.equal(sidecar.child.exitCode, null);
  });
});
