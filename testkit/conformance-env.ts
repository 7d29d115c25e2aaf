import { readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { FIXTURES } from './paths.js';
import { startSidecar, type SidecarProcess } from './sidecar.js';
import { writeSidecarDir } from './sidecar-dir.js';
import { EnvoyClient } from './envoy-client.js';

export interface JwksServer {
  readonly url: string;
  hits: number;
  keys: JWK[];
  /** Delay before answering, to hold a fetch in flight. */
  delayMs: number;
  close(): Promise<void>;
}

/** A real HTTP JWKS endpoint on loopback that counts fetches. */
export async function startJwksServer(keys: JWK[], port = 0): Promise<JwksServer> {
  const state = { hits: 0, keys, delayMs: 0 };
  const server: Server = createServer((_req, res) => {
    state.hits++;
    const body = JSON.stringify({ keys: state.keys });
    setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(body), state.delayMs);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  return Object.assign(state, {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  });
}

export async function keyPair(kid: string): Promise<{ publicJwk: JWK; privateJwk: JWK }> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  return {
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' },
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'ES256' },
  };
}

export interface ConformanceEnv {
  readonly dir: string;
  readonly sidecar: SidecarProcess;
  readonly client: EnvoyClient;
  readonly hsSecret: Buffer;
  readonly remote: JwksServer;
  readonly remotePrivate: JWK;
  close(): Promise<void>;
}

/**
 * The sidecar as a service owner would run it: example keys, the conformance policy, an
 * HS256 issuer with a shared secret and an issuer with a remote JWKS URL.
 */
export async function startConformanceEnv(extraConfig = ''): Promise<ConformanceEnv> {
  const hsSecret = randomBytes(32);
  const remoteKey = await keyPair('remote-1');
  const remote = await startJwksServer([remoteKey.publicJwk]);
  const { dir, configPath } = writeSidecarDir({
    policy: readFileSync(`${FIXTURES}/conformance/policy.yaml`, 'utf8'),
    audiences: ['orders', 'orders-alt'],
    claimsToHeaders: { tenant: 'x-tenant-id', roles: 'x-auth-roles', 'org.id': 'x-org-id' },
    moreIssuers: `  - name: hs
    issuer: https://hs.example.test
    audiences: [orders]
    algorithms: [HS256]
    keys: { secretFile: keys/hs.secret }
  - name: remote
    issuer: https://remote.example.test
    audiences: [orders]
    algorithms: [ES256]
    keys: { url: "${remote.url}", cooldownSeconds: 2 }
    typ: at+jwt
`,
    watchIntervalMs: 100,
    extra: extraConfig,
  });
  writeFileSync(join(dir, 'keys', 'hs.secret'), hsSecret);
  const sidecar = await startSidecar(configPath);
  const client = new EnvoyClient(sidecar.grpcAddress);
  return {
    dir,
    sidecar,
    client,
    hsSecret,
    remote,
    remotePrivate: remoteKey.privateJwk,
    close: async () => {
      client.close();
      await sidecar.stop();
      await remote.close();
    },
  };
}
