/**
 * The real binary (dist/authz-sidecar.mjs) under fuzzed gRPC traffic: raw bytes through a
 * pass-through serializer, so garbage and oversized messages reach the server as they are.
 * Every call must end in a well-formed CheckResponse or a clean gRPC status, and which one is
 * decided independently: bytes the sidecar's own decoder refuses get INTERNAL, messages over
 * grpc.maxMessageBytes get RESOURCE_EXHAUSTED, everything else a CheckResponse.
 */
import { spawn } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, credentials, status, type ServiceError } from '@grpc/grpc-js';
import { decodeCheckRequest, WireError } from '../../src/grpc/wire/index.js';
import { EnvoyClient, envoyRequest } from '../../testkit/envoy-client.js';
import { EXAMPLES, SIDECAR_BIN } from '../../testkit/paths.js';
import { startSidecar, type SidecarProcess } from '../../testkit/sidecar.js';
import { sidecarConfig, writeSidecarDir } from '../../testkit/sidecar-dir.js';
import { mint } from '../../testkit/tokens.js';
import { decodeEnvoyResponse, judgeResponse, type Judged } from './envoy-codec.js';
import { FUZZ_POLICY, LIMITS } from './requests.js';

const CHECK = '/envoy.service.auth.v3.Authorization/Check';
export const MAX_MESSAGE_BYTES = 65_536;

export const CONFIG = sidecarConfig({
  grpc: { maxMessageBytes: MAX_MESSAGE_BYTES },
  claimsToHeaders: { tenant: 'x-tenant-id' },
  log: { denyLinesPerSecond: 5 },
  extra: `request: { maxHeaders: ${LIMITS.maxHeaders}, maxHeaderBytes: ${LIMITS.maxHeaderBytes} }\n`,
});

/** A temp dir holding the example keys, the fuzz policy and `config` (CONFIG unless told). */
export function sidecarDir(config = CONFIG): { dir: string; configPath: string } {
  const written = writeSidecarDir({ policy: FUZZ_POLICY, config });
  copyFileSync(`${EXAMPLES}/policy.yaml`, join(written.dir, 'example-policy.yaml'));
  return written;
}

export type CallOutcome = { response: Judged } | { grpcStatus: number; details: string };

export interface BinaryUnderFuzz {
  readonly sidecar: SidecarProcess;
  readonly validToken: string;
  /** Sends `bytes` as the request message, verbatim. */
  send(bytes: Buffer): Promise<CallOutcome>;
  /** The expected kind of answer for `bytes`, decided without the server. */
  expected(bytes: Buffer): 'response' | 'INTERNAL' | 'RESOURCE_EXHAUSTED';
  /** Alive, /healthz and gRPC health answer, a known-good request is still allowed; throws naming what is not. */
  checkStillServing(): Promise<void>;
  close(): Promise<void>;
}

export async function startBinaryUnderFuzz(): Promise<BinaryUnderFuzz> {
  const { configPath } = sidecarDir();
  const sidecar = await startSidecar(configPath);
  const raw = new Client(sidecar.grpcAddress, credentials.createInsecure());
  const envoy = new EnvoyClient(sidecar.grpcAddress);
  const validToken = await mint({ scope: 'orders:read', tenant: 'acme' }, { ttlSeconds: 4 * 3600 });
  const secrets = [validToken, ...validToken.split('.')];

  const send = (bytes: Buffer): Promise<CallOutcome> =>
    new Promise((resolve, reject) =>
      raw.makeUnaryRequest(
        CHECK,
        (b: Buffer) => b,
        (b: Buffer) => b,
        bytes,
        { deadline: Date.now() + 20_000 },
        (error: ServiceError | null, response?: Buffer) => {
          if (error) return resolve({ grpcStatus: error.code, details: error.details });
          try {
            resolve({ response: judgeResponse(decodeEnvoyResponse(response!), secrets) });
          } catch (problem) {
            reject(problem instanceof Error ? problem : new Error(String(problem)));
          }
        },
      ),
    );

  const expected = (bytes: Buffer): 'response' | 'INTERNAL' | 'RESOURCE_EXHAUSTED' => {
    if (bytes.length > MAX_MESSAGE_BYTES) return 'RESOURCE_EXHAUSTED';
    try {
      decodeCheckRequest(bytes);
      return 'response';
    } catch (error) {
      if (error instanceof WireError) return 'INTERNAL';
      throw error;
    }
  };

  async function checkStillServing(): Promise<void> {
    if (sidecar.child.exitCode !== null || sidecar.child.signalCode !== null)
      throw new Error(`sidecar exited (${sidecar.child.exitCode ?? sidecar.child.signalCode}): ${sidecar.stderr()}`);
    const healthz = await fetch(`${sidecar.adminUrl}/healthz`);
    if (healthz.status !== 200) throw new Error(`/healthz answered ${healthz.status}`);
    const health = await envoy.healthCheck();
    if (health.status !== 'SERVING') throw new Error(`gRPC health is ${health.status}`);
    const good = await envoy.check(
      envoyRequest({ method: 'GET', path: '/api/orders/1', headers: { authorization: `Bearer ${validToken}`, 'x-tenant-id': 'acme' } }),
    );
    if (good.status.code !== 0) throw new Error(`the known-good request is no longer allowed: ${JSON.stringify(good).slice(0, 300)}`);
    if (sidecar.stderr() !== '') throw new Error(`sidecar wrote to stderr: ${sidecar.stderr().slice(0, 300)}`);
    const fatal = sidecar.logs.find((line) => typeof line.level === 'number' && line.level >= 50);
    if (fatal !== undefined) throw new Error(`sidecar logged an error: ${JSON.stringify(fatal).slice(0, 300)}`);
  }

  await checkStillServing();
  return {
    sidecar,
    validToken,
    send,
    expected,
    checkStillServing,
    close: async () => {
      raw.close();
      envoy.close();
      await sidecar.stop();
    },
  };
}

export const GRPC_STATUS_NAME: Record<number, string> = Object.fromEntries(
  Object.entries(status)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => [v, k]),
);

/** Runs `dist/authz-sidecar.mjs --check-config --config FILE`: exit code, stdout and stderr. */
export function checkConfig(configPath: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SIDECAR_BIN, '--check-config', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
