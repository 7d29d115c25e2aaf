import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A CA made for one test run, and a server certificate it signed for 127.0.0.1 and localhost. */
export interface TestCa {
  /** PEM file of the CA certificate: what a child process trusts through NODE_EXTRA_CA_CERTS. */
  readonly caFile: string;
  readonly caPem: string;
  readonly serverCertPem: string;
  readonly serverKeyPem: string;
}

/** Why a test CA cannot be made here (no `openssl` on PATH), or undefined when it can. */
export function testCaUnavailable(): string | undefined {
  const probe = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  return probe.status === 0 ? undefined : 'needs the openssl command line tool (apt-get install openssl)';
}

/**
 * Makes a fresh P-256 CA and a server certificate (SAN 127.0.0.1, ::1, localhost) with the
 * `openssl` CLI: node:crypto has no X.509 writer. Valid for a day; nothing is reused between runs.
 */
export function createTestCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'authz-ca-'));
  const at = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', at('ca.key'));
  openssl(
    'req',
    '-x509',
    '-new',
    '-key',
    at('ca.key'),
    '-sha256',
    '-days',
    '1',
    '-subj',
    '/CN=authz-sidecar test CA',
    '-out',
    at('ca.pem'),
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', at('server.key'));
  openssl('req', '-new', '-key', at('server.key'), '-subj', '/CN=127.0.0.1', '-out', at('server.csr'));
  writeFileSync(
    at('server.ext'),
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n',
  );
  openssl(
    'x509',
    '-req',
    '-in',
    at('server.csr'),
    '-CA',
    at('ca.pem'),
    '-CAkey',
    at('ca.key'),
    '-CAcreateserial',
    '-days',
    '1',
    '-sha256',
    '-extfile',
    at('server.ext'),
    '-out',
    at('server.pem'),
  );
  return {
    caFile: at('ca.pem'),
    caPem: readFileSync(at('ca.pem'), 'utf8'),
    serverCertPem: readFileSync(at('server.pem'), 'utf8'),
    serverKeyPem: readFileSync(at('server.key'), 'utf8'),
  };
}
