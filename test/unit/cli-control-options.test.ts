import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/cli/command.js';
import { controlSettings, hostPort, parseMillis, requireSigningKey } from '../../src/cli/control-options.js';

describe('controlSettings', () => {
  it('uses the defaults, then the environment, then the flags', () => {
    assert.deepEqual(controlSettings({}, {}), {
      servers: ['nats://127.0.0.1:4222'],
      bucket: 'authz',
      signingKeyFile: undefined,
      signerFiles: [],
      subjectPrefix: 'authz',
      timeoutMs: 5000,
      retryForMs: 20_000,
      replicas: undefined,
    });
    const env = { AUTHZ_NATS_URL: 'nats://a:4222, nats://b:4222', AUTHZ_SIGNING_KEY: '/keys/cp.jwk.json' };
    assert.deepEqual(controlSettings({}, env).servers, ['nats://a:4222', 'nats://b:4222']);
    assert.equal(controlSettings({}, env).signingKeyFile, '/keys/cp.jwk.json');
    const flags = controlSettings(
      {
        nats: ['nats://c:1'],
        'signing-key': 'k.json',
        bucket: 'other',
        'subject-prefix': 'mesh.authz',
        timeout: '250ms',
        signers: ['a', 'b'],
        'retry-for': '1m',
        replicas: '3',
      },
      env,
    );
    assert.deepEqual(flags, {
      servers: ['nats://c:1'],
      bucket: 'other',
      signingKeyFile: 'k.json',
      signerFiles: ['a', 'b'],
      subjectPrefix: 'mesh.authz',
      timeoutMs: 250,
      retryForMs: 60_000,
      replicas: 3,
    });
  });

  it('refuses bad values with a message naming the option', () => {
    assert.throws(
      () => controlSettings({ nats: ['http://x y'] }, {}),
      (e: unknown) => e instanceof UsageError && /^--nats: /.test(e.message),
    );
    assert.throws(() => controlSettings({ bucket: 'a.b' }, {}), /--bucket: "a\.b" is not a valid bucket name/);
    assert.throws(() => controlSettings({ 'subject-prefix': 'authz.>' }, {}), /--subject-prefix/);
    assert.throws(() => controlSettings({ timeout: '0s' }, {}), /--timeout: must be positive/);
    assert.throws(() => controlSettings({ timeout: 'soon' }, {}), /--timeout: "soon" is not a duration/);
    assert.throws(() => controlSettings({ 'retry-for': 'a while' }, {}), /--retry-for: "a while" is not a duration/);
    for (const replicas of ['0', '6', '2.5', 'three'])
      assert.throws(() => controlSettings({ replicas }, {}), /--replicas: .* must be a whole number from 1 to 5/);
  });
});

describe('parseMillis', () => {
  it('reads ms, s, m, h and bare seconds', () => {
    assert.equal(parseMillis('250ms', '--wait'), 250);
    assert.equal(parseMillis('1.5s', '--wait'), 1500);
    assert.equal(parseMillis('2', '--wait'), 2000);
    assert.equal(parseMillis('1m', '--wait'), 60_000);
    assert.throws(() => parseMillis('-1s', '--wait'), /--wait: "-1s" is not a duration/);
  });
});

describe('hostPort', () => {
  it('finds where to dial, 4222 by default', () => {
    assert.deepEqual(hostPort('nats://127.0.0.1:4333'), { host: '127.0.0.1', port: 4333 });
    assert.deepEqual(hostPort('nats://user:pw@nats.internal'), { host: 'nats.internal', port: 4222 });
    assert.deepEqual(hostPort('localhost:5000'), { host: 'localhost', port: 5000 });
    assert.deepEqual(hostPort('nats://[::1]:4222'), { host: '::1', port: 4222 });
  });
});

describe('requireSigningKey', () => {
  it('says how to give a key when none is set, and names an unreadable file', async () => {
    const settings = controlSettings({}, {});
    await assert.rejects(requireSigningKey(settings), /--signing-key FILE \(or AUTHZ_SIGNING_KEY\) is required/);
    await assert.rejects(requireSigningKey({ ...settings, signingKeyFile: '/no/such.jwk.json' }), /--signing-key: \/no\/such\.jwk\.json: .*file not found/);
  });
});
