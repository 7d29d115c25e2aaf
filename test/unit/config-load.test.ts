import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DocumentError, loadConfig, parseConfig, protectedServices, readConfig, serviceSelection } from '../../src/config/index.js';
import { EXAMPLES, FIXTURES } from '../../testkit/paths.js';

const dir = `${FIXTURES}/config`;
const fixture = (name: string): string => `${dir}/${name}`;

/** Asserts `fn` throws a DocumentError whose whole message is `expected`, on one line. */
function throwsDocument(fn: () => unknown, expected: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof DocumentError, `not a DocumentError: ${String(error)}`);
    assert.equal(error.message, expected);
    assert.ok(!error.message.includes('\n'), 'one line');
    return true;
  });
}

describe('loadConfig', () => {
  it('loads the example config, resolving its paths next to it', () => {
    const config = loadConfig(`${EXAMPLES}/config.yaml`);
    assert.equal(config.service, 'orders');
    assert.equal(config.issuers.length, 1);
    const idp = config.issuers[0];
    assert.equal(idp.issuer, 'https://idp.example.test');
    assert.deepEqual(idp.algorithms, ['ES256']);
    assert.equal(idp.keys?.file, join(EXAMPLES, 'keys/idp.jwks.json'));
    assert.deepEqual(idp.from, [{ header: 'authorization', prefix: 'Bearer ' }, { cookie: 'access_token' }]);
    assert.deepEqual(idp.claimsToHeaders, { tenant: 'x-tenant-id', roles: 'x-auth-roles' });
    assert.equal(config.serviceTokens?.trustDomain, 'cluster.local');
    assert.equal(config.serviceTokens?.keys.file, join(EXAMPLES, 'keys/mesh.jwks.json'));
    assert.deepEqual(config.serviceTokens?.algorithms, ['ES256', 'EdDSA']);
    assert.equal(config.policy!.file, join(EXAMPLES, 'policy.yaml'));
    // The resolved files are the real ones.
    assert.ok(readFileSync(config.policy!.file, 'utf8').includes('kind: Policy'));
  });

  it('applies every default to a minimal config', () => {
    const config = loadConfig(fixture('minimal.yaml'));
    assert.deepEqual(config.grpc, {
      address: '127.0.0.1:9191',
      maxMessageBytes: 1024 * 1024,
      handshakeTimeoutMs: 10_000,
      maxConnections: 1_024,
      maxConcurrentStreams: 1_000,
    });
    assert.deepEqual(config.admin, { address: '127.0.0.1:9192', eventLoopResolutionMs: 100 });
    assert.deepEqual(config.tokenCache, { maxEntries: 10_000 });
    assert.deepEqual(config.request, { maxHeaders: 200, maxHeaderBytes: 65_536 });
    assert.deepEqual(config.watch, { intervalMs: 1_000 });
    assert.deepEqual(config.log, { level: 'info', allows: false, denyLinesPerSecond: 100 });
    assert.deepEqual(config.shutdown, { drainSeconds: 10 });
    assert.deepEqual(config.runtime, { idleCollection: true });
    assert.equal(config.serviceTokens, undefined);
    assert.equal(config.nats, undefined);
    const idp = config.issuers[0];
    assert.equal(idp.clockSkewSeconds, 30);
    assert.equal(idp.maxTokenBytes, 8192);
    assert.deepEqual(idp.algorithms, ['ES256', 'RS256']);
    assert.deepEqual(idp.from, [{ header: 'authorization', prefix: 'Bearer ' }]);
    assert.deepEqual(idp.claimsToHeaders, {});
    assert.equal(idp.typ, undefined);
    assert.deepEqual(idp.keys, { file: join(dir, 'keys/idp.jwks.json'), timeoutMs: 5_000, cooldownSeconds: 30, maxAgeSeconds: 600 });
  });

  it('resolves every relative path against the config folder, whatever the cwd', () => {
    const cwd = process.cwd();
    const elsewhere = mkdtempSync(join(tmpdir(), 'config-cwd-'));
    try {
      process.chdir(elsewhere);
      const config = loadConfig(fixture('relative-paths.yaml'));
      const [idp, hs, pushed, absolute] = config.issuers;
      assert.equal(idp.keys?.file, join(dir, 'keys/idp.jwks.json'));
      assert.equal(hs.keys?.secretFile, join(dir, 'secrets/hs.secret'));
      assert.equal(pushed.keys?.nats, true);
      assert.equal(pushed.keys?.file, undefined, 'no path invented for a nats source');
      assert.equal(absolute.keys?.file, '/etc/authz/abs.jwks.json', 'absolute paths are kept');
      assert.equal(config.serviceTokens?.keys.file, join(FIXTURES, 'shared/mesh.jwks.json'));
      assert.equal(config.policy!.file, join(dir, 'policies/orders.yaml'));
      assert.deepEqual(config.nats?.signers, [join(dir, 'keys/control-plane.pub.jwk'), '/etc/authz/cp2.pub.jwk']);
      assert.equal(config.nats?.cacheDir, join(dir, 'cache'));
      assert.equal(config.nats?.bucket, 'authz');
    } finally {
      process.chdir(cwd);
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('does not read the environment (address overrides are main.ts business)', () => {
    const saved = { grpc: process.env.AUTHZ_GRPC_ADDRESS, admin: process.env.AUTHZ_ADMIN_ADDRESS };
    process.env.AUTHZ_GRPC_ADDRESS = '127.0.0.1:0';
    process.env.AUTHZ_ADMIN_ADDRESS = '127.0.0.1:1';
    try {
      const config = loadConfig(fixture('minimal.yaml'));
      assert.equal(config.grpc.address, '127.0.0.1:9191');
      assert.equal(config.admin.address, '127.0.0.1:9192');
    } finally {
      for (const [key, value] of [
        ['AUTHZ_GRPC_ADDRESS', saved.grpc],
        ['AUTHZ_ADMIN_ADDRESS', saved.admin],
      ] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });

  it('reads a JSON config file', () => {
    const config = loadConfig(fixture('config.json'));
    assert.equal(config.grpc.address, '127.0.0.1:7001');
    assert.equal(config.admin.address, '127.0.0.1:7002');
    assert.deepEqual(config.issuers[0].algorithms, ['ES256']);
    assert.equal(config.issuers[0].keys?.file, join(dir, 'keys/idp.jwks.json'));
    assert.equal(config.policy!.file, join(dir, 'policy.yaml'));
  });

  it('allows plain http for a JWKS on loopback only', () => {
    const config = loadConfig(fixture('http-jwks-loopback.yaml'));
    assert.equal(config.issuers[0].keys?.url, 'http://127.0.0.1:8080/jwks.json');
    const remote = (url: string) =>
      `service: orders\npolicy: { file: p.yaml }\nissuers:\n  - { name: idp, issuer: i, audiences: [a], keys: { url: "${url}" } }\n`;
    for (const url of ['http://localhost:8080/j', 'http://[::1]:8080/j', 'https://idp.example.test/j'])
      assert.equal(parseConfig(remote(url), 'c.yaml').issuers[0].keys?.url, url);
    // Looks like loopback, is not: the host is what the URL parser says it is.
    for (const url of ['http://localhost.evil.test/j', 'http://127.0.0.1@evil.test/j', 'http://10.0.0.1/j'])
      throwsDocument(() => parseConfig(remote(url), 'c.yaml'), 'c.yaml:4:58: issuers[0].keys.url: must be https (plain http is allowed on loopback only)');
  });

  it('readConfig keeps the document: a later problem names the field, where it is written, and its value as written', () => {
    const file = `${EXAMPLES}/config.yaml`;
    const doc = readConfig(file);
    assert.equal(doc.file, file);
    assert.equal(doc.config.issuers[0].keys?.file, join(EXAMPLES, 'keys/idp.jwks.json'));
    assert.equal(doc.written(['issuers', 0, 'keys', 'file']), 'keys/idp.jwks.json', 'as written, not resolved');
    assert.equal(doc.written(['grpc', 'maxConnections']), undefined);
    const error = doc.error(['issuers', 0, 'keys', 'file'], 'cannot read keys/idp.jwks.json: no such file');
    assert.equal(error.message, `${file}:11:19: issuers[0].keys.file: cannot read keys/idp.jwks.json: no such file`);
    assert.deepEqual([error.field, error.line, error.column], ['issuers[0].keys.file', 11, 19]);
    // A field the file leaves to its default is not placed anywhere: no line would be right.
    assert.equal(doc.error(['grpc', 'maxConnections'], 'x').message, `${file}: grpc.maxConnections: x`);
    assert.equal(readConfig(fixture('config.json')).error(['admin', 'address'], 'x').line !== undefined, true, 'JSON configs too');
  });

  it('names the file when it cannot be read', () => {
    const missing = fixture('does-not-exist.yaml');
    throwsDocument(() => loadConfig(missing), `${missing}: (document): cannot read: no such file`);
  });
});

describe('loadConfig errors: FILE:LINE:COLUMN: FIELD: REASON', () => {
  const cases: Array<[string, string]> = [
    ['unknown-top-level.yaml', ':3:1: issuer: unknown field'],
    ['unknown-nested.yaml', ':8:5: issuers[0].claimToHeaders: unknown field'],
    [
      'alg-none.yaml',
      ':7:18: issuers[0].algorithms[0]: unsupported algorithm "none" (allowed: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519, HS256, HS384, HS512)',
    ],
    ['hs256-without-secret.yaml', ':7:17: issuers[0].algorithms: HS256 requires keys.secretFile (a shared secret of at least 32 bytes)'],
    ['secret-with-es256.yaml', ':7:17: issuers[0].algorithms: a secretFile issuer may only allow HS256, HS384 or HS512'],
    ['two-key-sources.yaml', ':7:11: issuers[0].keys: must name exactly one of file, url, discovery, secretFile, nats'],
    ['keys-nats-without-nats.yaml', ':7:19: issuers[0].keys.nats: requires a "nats" section'],
    ['policy-nats-without-nats.yaml', ':2:17: policy.nats: requires a "nats" section'],
    ['http-jwks-remote.yaml', ':7:18: issuers[0].keys.url: must be https (plain http is allowed on loopback only)'],
    ['duplicate-issuer.yaml', ':8:11: issuers[1].name: duplicate issuer name "idp"'],
    ['same-addresses.yaml', ':4:19: admin.address: must differ from grpc.address'],
    ['bad-claim-header.yaml', ':8:67: issuers[0].claimsToHeaders.realm_access.roles: must be a lower-case HTTP header name'],
    ['yaml-syntax.yaml', ':3:1: (document): Flow map in block collection must be sufficiently indented and end with a }'],
    ['duplicate-keys.yaml', ':3:1: (document): Map keys must be unique'],
  ];
  for (const [name, expected] of cases) {
    it(name, () => {
      const path = fixture(name);
      throwsDocument(() => loadConfig(path), `${path}${expected}`);
    });
  }

  it("runtime: idleCollection on or off; V8 flags are refused (they belong on node's command line)", () => {
    const base = 'service: orders\npolicy: { file: p.yaml }\n';
    assert.deepEqual(parseConfig(`${base}runtime: { idleCollection: false }\n`, 'x.yaml').runtime, { idleCollection: false });
    assert.deepEqual(parseConfig(`${base}runtime: {}\n`, 'x.yaml').runtime, { idleCollection: true });
    throwsDocument(() => parseConfig(`${base}runtime: { idleCollection: "yes" }\n`, 'x.yaml'), 'x.yaml:3:28: runtime.idleCollection: must be true or false');
    throwsDocument(() => parseConfig(`${base}runtime: { idleCollection: 1 }\n`, 'x.yaml'), 'x.yaml:3:28: runtime.idleCollection: must be true or false');
    throwsDocument(() => parseConfig(`${base}runtime: { heapGrowingPercent: 100 }\n`, 'x.yaml'), 'x.yaml:3:12: runtime.heapGrowingPercent: unknown field');
    throwsDocument(() => parseConfig(`${base}runtime: true\n`, 'x.yaml'), 'x.yaml:3:10: runtime: must be a mapping');
  });

  it('gateway: services with their own policy sources, chosen by context extension or host; every mistake named on its field', () => {
    const gateway = (body: string) => `service: ingress\ngateway:\n${body}`;
    const config = parseConfig(
      gateway(`  selectBy: host
  services:
    - { name: orders, hosts: [orders.example.com, "*.orders.example.com"], policy: { file: policies/orders.yaml, shadowFile: next/orders.yaml } }
    - { name: billing, hosts: [billing.example.com], policy: { nats: true } }
nats: { servers: ["nats://127.0.0.1:4222"], signers: [cp.pub.jwk.json] }
`),
      '/etc/authz/config.yaml',
    );
    assert.deepEqual(
      protectedServices(config).map((s) => [s.name, s.hosts, s.policy, s.at]),
      [
        [
          'orders',
          ['orders.example.com', '*.orders.example.com'],
          { file: '/etc/authz/policies/orders.yaml', shadowFile: '/etc/authz/next/orders.yaml' },
          ['gateway', 'services', 0, 'policy'],
        ],
        ['billing', ['billing.example.com'], { nats: true }, ['gateway', 'services', 1, 'policy']],
      ],
    );
    assert.equal(serviceSelection(config), 'host');
    const byExtension = parseConfig(gateway('  services: [{ name: orders, policy: { file: o.yaml } }]\n'), 'x.yaml');
    assert.equal(serviceSelection(byExtension), 'contextExtension', 'the default');
    assert.deepEqual(
      protectedServices(parseConfig('service: orders\npolicy: { file: p.yaml }\n', '/etc/authz/x.yaml')).map((s) => [s.name, s.at]),
      [['orders', ['policy']]],
    );
    assert.equal(serviceSelection(parseConfig('service: orders\npolicy: { file: p.yaml }\n', 'x.yaml')), 'single');

    throwsDocument(
      () => parseConfig(`service: ingress\npolicy: { file: p.yaml }\ngateway: { services: [{ name: a, policy: { file: a.yaml } }] }\n`, 'x.yaml'),
      'x.yaml:3:10: gateway: name either policy (one service) or gateway (the policies of many services), not both or neither',
    );
    throwsDocument(() => parseConfig(gateway('  services: []\n'), 'x.yaml'), 'x.yaml:3:13: gateway.services: Too small: expected array to have >=1 items');
    throwsDocument(
      () => parseConfig(gateway('  services: [{ name: a, policy: { file: a.yaml } }, { name: a, policy: { file: b.yaml } }]\n'), 'x.yaml'),
      'x.yaml:3:61: gateway.services[1].name: duplicate service name "a"',
    );
    throwsDocument(
      () => parseConfig(gateway('  selectBy: host\n  services: [{ name: a, policy: { file: a.yaml } }]\n'), 'x.yaml'),
      'x.yaml: gateway.services[0].hosts: must name at least one host with gateway.selectBy: host',
    );
    throwsDocument(
      () => parseConfig(gateway('  services: [{ name: a, hosts: [a.test], policy: { file: a.yaml } }]\n'), 'x.yaml'),
      'x.yaml:3:32: gateway.services[0].hosts: only used with gateway.selectBy: host (services are chosen by context_extensions.service)',
    );
    throwsDocument(
      () =>
        parseConfig(
          gateway(
            '  selectBy: host\n  services: [{ name: a, hosts: [a.test], policy: { file: a.yaml } }, { name: b, hosts: [b.test, a.test], policy: { file: b.yaml } }]\n',
          ),
          'x.yaml',
        ),
      'x.yaml:4:97: gateway.services[1].hosts[1]: "a.test" is already a host of service "a"',
    );
    throwsDocument(
      () => parseConfig(gateway('  selectBy: host\n  services: [{ name: a, hosts: ["Orders.test:443"], policy: { file: a.yaml } }]\n'), 'x.yaml'),
      'x.yaml:4:33: gateway.services[0].hosts[0]: must be a lower-case host name without port, or "*." and one',
    );
    throwsDocument(
      () => parseConfig(gateway('  selectBy: path\n  services: [{ name: a, policy: { file: a.yaml } }]\n'), 'x.yaml'),
      'x.yaml:3:13: gateway.selectBy: must be "contextExtension" or "host"',
    );
    throwsDocument(
      () => parseConfig(gateway('  services: [{ name: a, policy: { nats: true } }]\n'), 'x.yaml'),
      'x.yaml:3:41: gateway.services[0].policy.nats: requires a "nats" section',
    );
  });

  it('apiKeys: defaults, the file resolved next to the config; a shared header, issuer or name is refused on its field', () => {
    const base = 'service: orders\npolicy: { file: p.yaml }\n';
    const config = parseConfig(`${base}apiKeys: { keys: { file: keys/api-keys.json } }\n`, '/etc/authz/x.yaml');
    assert.deepEqual(config.apiKeys, { header: 'x-api-key', issuer: 'api-key', keys: { file: '/etc/authz/keys/api-keys.json' } });
    const issuer = '  - { name: idp, issuer: https://idp.test, audiences: [a], keys: { file: k } }\n';
    throwsDocument(() => parseConfig(`${base}apiKeys: { keys: {} }\n`, 'x.yaml'), 'x.yaml:3:18: apiKeys.keys: must name exactly one of file, nats');
    throwsDocument(() => parseConfig(`${base}apiKeys: { keys: { nats: true } }\n`, 'x.yaml'), 'x.yaml:3:26: apiKeys.keys.nats: requires a "nats" section');
    throwsDocument(
      () => parseConfig(`${base}apiKeys: { header: X-Api-Key, keys: { file: k } }\n`, 'x.yaml'),
      'x.yaml:3:20: apiKeys.header: must be a lower-case HTTP header name',
    );
    throwsDocument(
      () => parseConfig(`${base}issuers:\n${issuer}apiKeys: { header: authorization, keys: { file: k } }\n`, 'x.yaml'),
      'x.yaml:5:20: apiKeys.header: "authorization" is already a token source; API keys need a header of their own',
    );
    throwsDocument(
      () => parseConfig(`${base}serviceTokens: { trustDomain: td, keys: { file: m } }\napiKeys: { header: x-service-token, keys: { file: k } }\n`, 'x.yaml'),
      'x.yaml:4:20: apiKeys.header: "x-service-token" is already a token source; API keys need a header of their own',
    );
    throwsDocument(
      () => parseConfig(`${base}issuers:\n${issuer}apiKeys: { issuer: https://idp.test, keys: { file: k } }\n`, 'x.yaml'),
      `x.yaml:5:20: apiKeys.issuer: "https://idp.test" is also a token issuer's "issuer"; policies could not tell them apart`,
    );
    throwsDocument(
      () => parseConfig(`${base}issuers:\n${issuer.replace('name: idp', 'name: apikeys.orders')}apiKeys: { keys: { file: k } }\n`, 'x.yaml'),
      'x.yaml:4:13: issuers[0].name: "apikeys.orders" is the name API key callers carry; choose another',
    );
  });

  it('parseConfig names the file it was given and checks cross-field rules', () => {
    const base = 'service: orders\npolicy: { file: p.yaml }\n';
    throwsDocument(() => parseConfig('', 'x.yaml'), 'x.yaml: (document): must be a mapping');
    throwsDocument(() => parseConfig('- orders\n', 'x.yaml'), 'x.yaml: (document): must be a mapping');
    throwsDocument(() => parseConfig('policy: { file: p.yaml }\n', 'x.yaml'), 'x.yaml: service: required');
    throwsDocument(
      () => parseConfig('service: orders\n', 'x.yaml'),
      'x.yaml: policy: name either policy (one service) or gateway (the policies of many services), not both or neither',
    );
    throwsDocument(() => parseConfig('service: orders\npolicy: {}\n', 'x.yaml'), 'x.yaml:2:9: policy: must name exactly one of file, nats');
    throwsDocument(
      () => parseConfig('service: orders\npolicy: { nats: true, shadowFile: s.yaml }\n', 'x.yaml'),
      'x.yaml:2:35: policy.shadowFile: needs policy.file; with policy.nats the shadow policy comes from the bucket (authzctl publish policy --shadow)',
    );
    assert.equal(parseConfig('service: orders\npolicy: { file: p.yaml, shadowFile: s.yaml }\n', '/etc/authz/x.yaml').policy!.shadowFile, '/etc/authz/s.yaml');
    throwsDocument(() => parseConfig(`${base}tokenCache: { maxEntries: "10" }\n`, 'x.yaml'), 'x.yaml:3:27: tokenCache.maxEntries: must be a number');
    throwsDocument(
      () => parseConfig(`${base}grpc: { handshakeTimeoutMs: 50 }\n`, 'x.yaml'),
      'x.yaml:3:29: grpc.handshakeTimeoutMs: Too small: expected number to be >=100',
    );
    throwsDocument(
      () => parseConfig(`${base}grpc: { handshakeTimeoutMs: 120001 }\n`, 'x.yaml'),
      'x.yaml:3:29: grpc.handshakeTimeoutMs: Too big: expected number to be <=120000',
    );
    throwsDocument(
      () => parseConfig(`${base}grpc: { maxConnections: 0 }\n`, 'x.yaml'),
      'x.yaml:3:25: grpc.maxConnections: Too small: expected number to be >=1',
    );
    throwsDocument(
      () => parseConfig(`${base}grpc: { maxConnections: 65537 }\n`, 'x.yaml'),
      'x.yaml:3:25: grpc.maxConnections: Too big: expected number to be <=65536',
    );
    throwsDocument(
      () => parseConfig(`${base}grpc: { maxConcurrentStreams: 0 }\n`, 'x.yaml'),
      'x.yaml:3:31: grpc.maxConcurrentStreams: Too small: expected number to be >=1',
    );
    throwsDocument(() => parseConfig(`${base}grpc: { maxConcurrentStreams: 2.5 }\n`, 'x.yaml'), 'x.yaml:3:31: grpc.maxConcurrentStreams: must be int');
    throwsDocument(
      () => parseConfig(`${base}admin: { eventLoopResolutionMs: 5 }\n`, 'x.yaml'),
      'x.yaml:3:33: admin.eventLoopResolutionMs: Too small: expected number to be >=10',
    );
    assert.equal(parseConfig(`${base}admin: { eventLoopResolutionMs: 1000 }\n`, 'x.yaml').admin.eventLoopResolutionMs, 1000);
    assert.deepEqual(parseConfig(`${base}grpc: { handshakeTimeoutMs: 100, maxConnections: 1, maxConcurrentStreams: 100000 }\n`, 'x.yaml').grpc, {
      address: '127.0.0.1:9191',
      maxMessageBytes: 1024 * 1024,
      handshakeTimeoutMs: 100,
      maxConnections: 1,
      maxConcurrentStreams: 100_000,
    });
    throwsDocument(
      () => parseConfig(`${base}serviceTokens: { trustDomain: cluster.local, keys: { secretFile: s } }\n`, 'x.yaml'),
      'x.yaml:3:66: serviceTokens.keys.secretFile: service tokens must use asymmetric keys',
    );
    throwsDocument(
      () =>
        parseConfig(
          `${base}issuers:\n  - { name: idp, issuer: i, audiences: [a], keys: { file: k }, from: [{ header: authorization, cookie: c }] }\n`,
          'x.yaml',
        ),
      'x.yaml:4:71: issuers[0].from[0]: must be { header: NAME, prefix?: "Bearer " } or { cookie: NAME }',
    );
  });
});

describe('config: discovery and introspection issuers', () => {
  const issuer = (fields: string) => `service: orders\npolicy: { file: p.yaml }\nissuers:\n  - ${fields}\n`;
  const opaque = 'name: corp, issuer: "https://corp.example.test", audiences: [orders]';

  it('accepts keys.discovery and an introspection issuer, resolving its credential files', () => {
    const config = parseConfig(
      issuer(`{ name: idp, issuer: "https://idp.example.test", audiences: [a], keys: { discovery: "https://idp.example.test" } }`),
      '/etc/authz/c.yaml',
    );
    assert.equal(config.issuers[0].keys?.discovery, 'https://idp.example.test');
    const intro = parseConfig(
      issuer(`{ ${opaque}, introspection: { url: "https://corp.example.test/introspect", clientId: sidecar, clientSecretFile: secrets/c } }`),
      '/etc/authz/c.yaml',
    ).issuers[0].introspection!;
    assert.deepEqual(
      [intro.clientSecretFile, intro.timeoutMs, intro.cacheSeconds, intro.negativeCacheSeconds, intro.jwtResponse],
      ['/etc/authz/secrets/c', 2000, 300, 10, false],
    );
  });

  it('refuses what cannot work, one line naming the field', () => {
    throwsDocument(
      () => parseConfig(issuer(`{ ${opaque} }`), 'c.yaml'),
      'c.yaml:4:5: issuers[0]: needs keys (or introspection, for an issuer of opaque tokens)',
    );
    throwsDocument(
      () => parseConfig(issuer(`{ ${opaque}, keys: { discovery: "http://corp.example.test" } }`), 'c.yaml'),
      'c.yaml:4:96: issuers[0].keys.discovery: must be https (plain http is allowed on loopback only)',
    );
    throwsDocument(
      () => parseConfig(issuer(`{ name: corp, issuer: corp, audiences: [a], keys: { discovery: "https://corp.example.test" } }`), 'c.yaml'),
      'c.yaml:4:27: issuers[0].issuer: must be the issuer URL with keys.discovery (the discovery document must name exactly this issuer)',
    );
    throwsDocument(
      () => parseConfig(issuer(`{ ${opaque}, introspection: { url: "https://corp.example.test/i", clientId: s } }`), 'c.yaml'),
      'c.yaml:4:92: issuers[0].introspection: must name exactly one of clientSecretFile, privateKeyJwt',
    );
    throwsDocument(
      () => parseConfig(issuer(`{ ${opaque}, introspection: { url: "http://10.0.0.1/i", clientId: s, clientSecretFile: f } }`), 'c.yaml'),
      'c.yaml:4:99: issuers[0].introspection.url: must be https (plain http is allowed on loopback only)',
    );
    throwsDocument(
      () => parseConfig(issuer(`{ ${opaque}, introspection: { url: "https://c/i", clientId: s, clientSecretFile: f, jwtResponse: true } }`), 'c.yaml'),
      'c.yaml:4:161: issuers[0].introspection.jwtResponse: needs keys: the key set the authorization server signs its answers with',
    );
  });

  it('refuses two introspection issuers on one token source: opaque tokens could not be routed', () => {
    const text = `service: orders\npolicy: { file: p.yaml }\nissuers:\n  - { name: a, issuer: "https://a", audiences: [o], introspection: { url: "https://a/i", clientId: s, clientSecretFile: f } }\n  - { name: b, issuer: "https://b", audiences: [o], introspection: { url: "https://b/i", clientId: s, clientSecretFile: f } }\n`;
    assert.throws(() => parseConfig(text, 'c.yaml'), /issuers\[1\]\.from: shares a token source with introspection issuer "a"/);
  });
});
