/**
 * Every start-up failure of the real binary is one line on stderr, `authz-sidecar: FILE: FIELD:
 * REASON` (with `:LINE:COLUMN` after FILE when the field is written in it), and the documented
 * exit code: 2 for a config, policy or key file that cannot be used, 1 for an address it cannot
 * listen on. Nothing else reaches stderr, and no stack trace reaches stdout's log either.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { runSidecar, type SidecarRun } from '../../testkit/sidecar.js';
import { ordersPolicy, sidecarConfig, writeSidecarDir } from '../../testkit/sidecar-dir.js';

/** 1-based line and column of the first `needle` in `text`: found by searching, not by the parser under test. */
function positionOf(text: string, needle: string): string {
  const offset = text.indexOf(needle);
  assert.ok(offset >= 0, `"${needle}" is in the document`);
  const before = text.slice(0, offset);
  return `${before.split('\n').length}:${offset - before.lastIndexOf('\n')}`;
}

/** The contract every failure keeps, whatever its line says. */
function assertOneLineFailure(run: SidecarRun, code: number, expected: string | RegExp): void {
  assert.equal(run.code, code, `exit code (stderr: ${run.stderr})`);
  assert.ok(run.stderr.endsWith('\n'), `stderr ends with a newline: ${JSON.stringify(run.stderr)}`);
  assert.equal(run.stderr.indexOf('\n'), run.stderr.length - 1, `stderr is one line: ${JSON.stringify(run.stderr)}`);
  assert.doesNotMatch(run.stderr, / {4}at /, 'no stack trace on stderr');
  assert.doesNotMatch(run.stdout, / {4}at /, 'no stack trace in the log on stdout');
  if (typeof expected === 'string') assert.equal(run.stderr, `${expected}\n`);
  else assert.match(run.stderr.slice(0, -1), expected);
}

/** A server holding a port on 127.0.0.1, as another process would. */
async function occupy(): Promise<{ server: Server; address: string }> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, address: `127.0.0.1:${(server.address() as { port: number }).port}` };
}

/** Runs `--config config.yaml` from the sidecar directory, so messages name the file as given. */
const start = (dir: string, env?: NodeJS.ProcessEnv, ...more: string[]) => runSidecar(['--config', 'config.yaml', ...more], { cwd: dir, env });

/** The example config with the idp issuer's key file replaced. */
const withIdpKeys = (file: string) => sidecarConfig().replace('keys/idp.jwks.json', file);

describe('start-up errors: one stderr line naming the file and the field, the documented exit code', () => {
  let held: { server: Server; address: string };
  before(async () => {
    held = await occupy();
  });
  after(() => held.server.close());

  describe('an address in use: exit 1', () => {
    it('grpc.address: names the field and where it is written, and exits at once', async () => {
      const extra = `grpc: { address: "${held.address}" }\nadmin: { address: "127.0.0.1:0" }\n`;
      const { dir, configPath } = writeSidecarDir({ extra });
      const text = readFileSync(configPath, 'utf8');
      const run = await start(dir);
      assertOneLineFailure(run, 1, `authz-sidecar: config.yaml:${positionOf(text, `"${held.address}"`)}: grpc.address: ${held.address} is already in use`);
      assert.ok(run.elapsedMs < 10_000, `exited promptly (${Math.round(run.elapsedMs)} ms)`);
      const fatal = run.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.msg === 'cannot listen');
      assert.deepEqual([fatal?.field, fatal?.code, fatal?.err], ['grpc.address', 'EADDRINUSE', undefined], 'the log says it too, without the error object');
    });

    it('admin.address: names the field, and exits at once', async () => {
      const extra = `grpc: { address: "127.0.0.1:0" }\nadmin: { address: "${held.address}" }\n`;
      const { dir, configPath } = writeSidecarDir({ extra });
      const text = readFileSync(configPath, 'utf8');
      const run = await start(dir);
      assertOneLineFailure(run, 1, `authz-sidecar: config.yaml:${positionOf(text, `"${held.address}"`)}: admin.address: ${held.address} is already in use`);
      assert.ok(run.elapsedMs < 10_000, `exited promptly (${Math.round(run.elapsedMs)} ms)`);
    });

    it('an address from AUTHZ_GRPC_ADDRESS or AUTHZ_ADMIN_ADDRESS is reported on that variable', async () => {
      const { dir } = writeSidecarDir();
      const grpc = await start(dir, { AUTHZ_GRPC_ADDRESS: held.address, AUTHZ_ADMIN_ADDRESS: '127.0.0.1:0' });
      assertOneLineFailure(grpc, 1, `authz-sidecar: config.yaml: AUTHZ_GRPC_ADDRESS: ${held.address} is already in use`);
      const admin = await start(dir, { AUTHZ_GRPC_ADDRESS: '127.0.0.1:0', AUTHZ_ADMIN_ADDRESS: held.address });
      assertOneLineFailure(admin, 1, `authz-sidecar: config.yaml: AUTHZ_ADMIN_ADDRESS: ${held.address} is already in use`);
    });

    it('grpc-js writes nothing of its own to stderr, even when told to be verbose', async () => {
      const { dir } = writeSidecarDir();
      const run = await start(dir, { AUTHZ_GRPC_ADDRESS: held.address, AUTHZ_ADMIN_ADDRESS: '127.0.0.1:0', GRPC_VERBOSITY: 'DEBUG', GRPC_TRACE: 'all' });
      assertOneLineFailure(run, 1, `authz-sidecar: config.yaml: AUTHZ_GRPC_ADDRESS: ${held.address} is already in use`);
    });

    it('--check-config does not listen: the same config is ok there', async () => {
      const { dir } = writeSidecarDir({ extra: `grpc: { address: "${held.address}" }\n` });
      const run = await start(dir, {}, '--check-config');
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stderr, '');
      assert.match(run.stdout, /^config\.yaml: ok$/m);
    });
  });

  describe('a file the config names cannot be used: exit 2, the same line with --check-config', () => {
    /** Runs the sidecar and --check-config on the directory; both must fail with exactly `expected`. */
    async function bothRefuse(dir: string, expected: string | RegExp): Promise<void> {
      for (const args of [[], ['--check-config']]) {
        const run = await start(dir, { AUTHZ_GRPC_ADDRESS: '127.0.0.1:0', AUTHZ_ADMIN_ADDRESS: '127.0.0.1:0' }, ...args);
        assertOneLineFailure(run, 2, expected);
      }
    }

    it('a missing key file: issuers[0].keys.file, the path as written, "no such file"', async () => {
      const config = withIdpKeys('keys/missing.jwks.json');
      const { dir } = writeSidecarDir({ config });
      await bothRefuse(
        dir,
        `authz-sidecar: config.yaml:${positionOf(config, 'keys/missing')}: issuers[0].keys.file: cannot read keys/missing.jwks.json: no such file`,
      );
    });

    it('a directory where the key file should be: "is a directory"', async () => {
      const config = withIdpKeys('keys/dir.jwks.json');
      const { dir } = writeSidecarDir({ config });
      mkdirSync(join(dir, 'keys/dir.jwks.json'));
      await bothRefuse(
        dir,
        `authz-sidecar: config.yaml:${positionOf(config, 'keys/dir')}: issuers[0].keys.file: cannot read keys/dir.jwks.json: is a directory`,
      );
    });

    it('an unreadable key file: "permission denied"', async (t) => {
      if (process.getuid?.() === 0) {
        t.skip('running as root, a mode-000 file is still readable: EACCES cannot be produced (the directory and missing-file cases cover the read path)');
        return;
      }
      const config = withIdpKeys('keys/locked.jwks.json');
      const { dir } = writeSidecarDir({ config });
      writeFileSync(join(dir, 'keys/locked.jwks.json'), readFileSync(join(dir, 'keys/idp.jwks.json')));
      chmodSync(join(dir, 'keys/locked.jwks.json'), 0o000);
      await bothRefuse(
        dir,
        `authz-sidecar: config.yaml:${positionOf(config, 'keys/locked')}: issuers[0].keys.file: cannot read keys/locked.jwks.json: permission denied`,
      );
    });

    it('a missing service-token key file: serviceTokens.keys.file', async () => {
      const config = sidecarConfig().replace('keys/mesh.jwks.json', 'keys/gone.jwks.json');
      const { dir } = writeSidecarDir({ config });
      await bothRefuse(
        dir,
        `authz-sidecar: config.yaml:${positionOf(config, 'keys/gone')}: serviceTokens.keys.file: cannot read keys/gone.jwks.json: no such file`,
      );
    });

    it('a missing HMAC secret file: issuers[1].keys.secretFile', async () => {
      const moreIssuers =
        '  - name: hs\n    issuer: https://hs.example.test\n    audiences: [orders]\n    algorithms: [HS256]\n    keys: { secretFile: secrets/hs.secret }\n';
      const { dir, configPath } = writeSidecarDir({ moreIssuers });
      const text = readFileSync(configPath, 'utf8');
      await bothRefuse(
        dir,
        `authz-sidecar: config.yaml:${positionOf(text, 'secrets/')}: issuers[1].keys.secretFile: cannot read secrets/hs.secret: no such file`,
      );
    });

    it('an invalid key set: the file as written and what is wrong with it', async () => {
      const config = withIdpKeys('keys/bad.jwks.json');
      const { dir } = writeSidecarDir({ config });
      writeFileSync(join(dir, 'keys/bad.jwks.json'), '{"kys": []}\n');
      await bothRefuse(
        dir,
        `authz-sidecar: config.yaml:${positionOf(config, 'keys/bad')}: issuers[0].keys.file: keys/bad.jwks.json: JWKS must be an object with a "keys" array`,
      );
    });

    it('a single private JWK as the key set: says to use the public key set, never echoes the key', async () => {
      const config = withIdpKeys('keys/idp-dev-1.private.jwk.json');
      const { dir } = writeSidecarDir({ config });
      const secret = (JSON.parse(readFileSync(join(dir, 'keys/idp-dev-1.private.jwk.json'), 'utf8')) as { d: string }).d;
      await bothRefuse(
        dir,
        `authz-sidecar: config.yaml:${positionOf(config, 'keys/idp-dev-1')}: issuers[0].keys.file: keys/idp-dev-1.private.jwk.json: ` +
          'is a single private JWK (member "d"), not a key set: use the public key set, {"keys": [public JWKs]}, ' +
          'e.g. the public JWK that authzctl keygen writes next to the private one (*.pub.jwk.json) wrapped in a keys array',
      );
      const run = await start(dir, {}, '--check-config');
      assert.ok(!run.stderr.includes(secret) && !run.stdout.includes(secret), 'no key material in the output');
    });

    it('a single public JWK without a keys array: says to wrap it', async () => {
      const config = withIdpKeys('keys/idp.pub.jwk.json');
      const { dir } = writeSidecarDir({ config });
      const publicJwk = JSON.parse(readFileSync(join(dir, 'keys/idp-dev-1.private.jwk.json'), 'utf8')) as Record<string, unknown>;
      delete publicJwk.d;
      writeFileSync(join(dir, 'keys/idp.pub.jwk.json'), JSON.stringify(publicJwk));
      await bothRefuse(
        dir,
        `authz-sidecar: config.yaml:${positionOf(config, 'keys/idp.pub')}: issuers[0].keys.file: keys/idp.pub.jwk.json: is a single JWK, not a key set: wrap it: {"keys": [ … ]}`,
      );
    });

    it('a private key inside a key set: names its kid and says private keys are never published', async () => {
      const config = withIdpKeys('keys/leaked.jwks.json');
      const { dir } = writeSidecarDir({ config });
      writeFileSync(
        join(dir, 'keys/leaked.jwks.json'),
        JSON.stringify({ keys: [JSON.parse(readFileSync(join(dir, 'keys/idp-dev-1.private.jwk.json'), 'utf8'))] }),
      );
      await bothRefuse(
        dir,
        `authz-sidecar: config.yaml:${positionOf(config, 'keys/leaked')}: issuers[0].keys.file: keys/leaked.jwks.json: ` +
          'key #0 (kid "idp-dev-1") contains private key member "d": a private key must never be published; the set holds public keys only',
      );
    });

    it('a missing policy file: policy.file', async () => {
      const config = sidecarConfig().replace('policy: { file: policy.yaml }', 'policy: { file: policies/orders.yaml }');
      const { dir } = writeSidecarDir({ config });
      await bothRefuse(dir, `authz-sidecar: config.yaml:${positionOf(config, 'policies/')}: policy.file: cannot read policies/orders.yaml: no such file`);
    });

    it('a missing control-plane signer: nats.signers[0]', async () => {
      const extra = 'nats:\n  servers: ["nats://127.0.0.1:1"]\n  signers: [keys/cp.pub.jwk.json]\n';
      const { dir, configPath } = writeSidecarDir({ extra });
      const text = readFileSync(configPath, 'utf8');
      await bothRefuse(dir, `authz-sidecar: config.yaml:${positionOf(text, 'keys/cp.pub')}: nats.signers[0]: cannot read keys/cp.pub.jwk.json: no such file`);
    });
  });

  describe('an invalid policy: exit 2, the policy file, line:column, the rule by index and name', () => {
    it('names the policy from where the sidecar was started, as the config names it', async () => {
      const when = `'request.auth.claims.tenant = "acme"'`;
      const policy = ordersPolicy({ rules: `    - name: tenant-only\n      action: ALLOW\n      when: ${when}\n` });
      const { dir } = writeSidecarDir({ policy });
      // Started from the parent folder: the config is `<dir>/config.yaml`, so the policy is `<dir>/policy.yaml`.
      const config = `${basename(dir)}/config.yaml`;
      const prefix = `authz-sidecar: ${basename(dir)}/policy.yaml:${positionOf(policy, when)}: spec.rules[1] (tenant-only).when: `;
      for (const args of [[], ['--check-config']]) {
        const run = await runSidecar(['--config', config, ...args], {
          cwd: dirname(dir),
          env: { AUTHZ_GRPC_ADDRESS: '127.0.0.1:0', AUTHZ_ADMIN_ADDRESS: '127.0.0.1:0' },
        });
        assertOneLineFailure(run, 2, new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\S`));
      }
    });

    it('an unknown field is placed at its key', async () => {
      const policy = ordersPolicy().replace('      action: ALLOW\n', '      acton: ALLOW\n');
      const { dir } = writeSidecarDir({ policy });
      const run = await start(dir, { AUTHZ_GRPC_ADDRESS: '127.0.0.1:0', AUTHZ_ADMIN_ADDRESS: '127.0.0.1:0' });
      assertOneLineFailure(run, 2, `authz-sidecar: policy.yaml:${positionOf(policy, 'acton')}: spec.rules[0] (read-orders).acton: unknown field`);
    });
  });
});
