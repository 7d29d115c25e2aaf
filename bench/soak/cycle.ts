/**
 * One control-plane cycle of the soak, against a sidecar under load: a policy push (a new
 * revision that still allows the load's request), then a key rotation (the issuer's key set
 * republished with a new kid next to the current one; once the sidecar has applied it, the
 * load switches to tokens signed with the new key), and after an overlap the previous key's
 * retirement (the set republished with the new kid only).
 *
 * Each document counts as applied when the sidecar logs `control document applied` for its
 * KV key and revision, and a probe shows its effect: the new policy revision's own rule
 * allows and the previous revision's no longer does; after a retirement a token the load
 * sent with the old key is refused (the token cache must not keep serving it).
 */
import type { JsonWebKey } from 'node:crypto';
import { envoyRequest, type EnvoyClient } from '../../testkit/envoy-client.js';
import { nodeKeyPair } from '../../testkit/key-pair.js';
import type { SidecarProcess } from '../../testkit/sidecar.js';
import { ALLOWED_BY_RULE } from '../checks.js';
import type { Traffic } from '../load/paced.js';
import type { Publisher, Put } from '../publisher.js';
import { checkRequestBody } from '../request.js';
import { pushedPolicy } from '../scenarios/control-plane.js';
import { IDP_JWKS_FILE, minterFor, readJson, type Minter } from '../../testkit/tokens.js';

export type DocumentStep = 'policy push' | 'key added' | 'key retired';

export interface Applied {
  readonly step: DocumentStep;
  readonly revision: number;
  /** ms from just before the KV put to the sidecar's `control document applied` line; NaN when never applied. */
  readonly applyMs: number;
  /** ms the put took to be acknowledged by JetStream. */
  readonly putMs: number;
  /** The probe of the document's effect passed. */
  readonly effective: boolean;
  /** Why it does not count as applied; null when it does. */
  readonly problem: string | null;
}

/** A signing key of the soak's issuer: its public JWK (as published) and a minter. */
export interface SigningKey {
  readonly kid: string;
  readonly publicJwk: JsonWebKey;
  readonly minter: Minter;
}

const APPLY_TIMEOUT_MS = 10_000;

export function initialKey(): SigningKey {
  const publicJwk = (readJson(IDP_JWKS_FILE) as { keys: JsonWebKey[] }).keys[0];
  const minter = minterFor();
  return { kid: minter.kid, publicJwk, minter };
}

export function newKey(kid: string): SigningKey {
  const { publicKey, privateKey } = nodeKeyPair('ec', { namedCurve: 'P-256' });
  return {
    kid,
    publicJwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' },
    minter: minterFor({ ...privateKey.export({ format: 'jwk' }), kid }),
  };
}

/** The load's traffic for a key: `count` distinct tokens signed with it, each expected to be allowed by read-orders. */
export function trafficFor(key: SigningKey, count: number): Traffic & { readonly tokens: readonly string[] } {
  const tokens = Array.from({ length: count }, () => key.minter.mint());
  return { tokens, bodies: tokens.map((token) => checkRequestBody({ token })), expect: ALLOWED_BY_RULE };
}

/** How many probes were answered allow and deny, so the sidecar's decision counters can be reconciled with the load's. */
export interface ProbeCounts {
  allow: number;
  deny: number;
}

export class ControlCycles {
  private policyRevision = 1;
  private current: SigningKey = initialKey();
  private currentTraffic: ReturnType<typeof trafficFor>;
  private previous: { key: SigningKey; traffic: ReturnType<typeof trafficFor> } | null = null;
  readonly probes: ProbeCounts = { allow: 0, deny: 0 };

  constructor(
    private readonly publisher: Publisher,
    private readonly sidecar: SidecarProcess,
    private readonly client: EnvoyClient,
    private readonly tokensPerKey: number,
  ) {
    this.currentTraffic = trafficFor(this.current, tokensPerKey);
  }

  /** What the load sends now. */
  traffic(): Traffic {
    return this.currentTraffic;
  }

  /** A new policy revision; applied when logged and its own rule allows while the previous revision's does not. */
  async pushPolicy(): Promise<Applied> {
    const revision = ++this.policyRevision;
    const put = await this.publisher.publish('policy', 'orders', pushedPolicy(revision));
    const applyMs = await this.appliedAfter(put);
    if (!Number.isFinite(applyMs))
      return this.result('policy push', put, applyMs, false, `revision ${put.revision} not logged as applied within ${APPLY_TIMEOUT_MS} ms`);
    const opened = await this.probe(`/v${revision}/soak`);
    const closed = await this.probe(`/v${revision - 1}/soak`);
    const effective = opened === 0 && closed !== 0;
    return this.result(
      'policy push',
      put,
      applyMs,
      effective,
      effective ? null : `after revision ${put.revision}: /v${revision}/* answered ${opened}, /v${revision - 1}/* answered ${closed}`,
    );
  }

  /** Publishes {current, new}; once applied, `switchTo` gets tokens signed with the new key. */
  async addKey(kid: string, switchTo: (traffic: Traffic) => void): Promise<Applied> {
    const fresh = newKey(kid);
    const traffic = trafficFor(fresh, this.tokensPerKey);
    const put = await this.publisher.publish('keys', 'issuer/idp', { keys: [this.current.publicJwk, fresh.publicJwk] });
    const applyMs = await this.appliedAfter(put);
    if (!Number.isFinite(applyMs))
      return this.result('key added', put, applyMs, false, `key set revision ${put.revision} (kid ${kid}) not logged as applied within ${APPLY_TIMEOUT_MS} ms`);
    this.previous = { key: this.current, traffic: this.currentTraffic };
    this.current = fresh;
    this.currentTraffic = traffic;
    switchTo(traffic);
    // The load itself is the probe: every call from now on carries a token of the new kid.
    return this.result('key added', put, applyMs, true, null);
  }

  /** Publishes {current} only; applied when logged and a token the load sent with the retired key is refused. */
  async retirePrevious(): Promise<Applied | null> {
    const previous = this.previous;
    if (previous === null) return null;
    const put = await this.publisher.publish('keys', 'issuer/idp', { keys: [this.current.publicJwk] });
    const applyMs = await this.appliedAfter(put);
    if (!Number.isFinite(applyMs))
      return this.result(
        'key retired',
        put,
        applyMs,
        false,
        `key set revision ${put.revision} (kid ${previous.key.kid} removed) not logged as applied within ${APPLY_TIMEOUT_MS} ms`,
      );
    this.previous = null;
    const code = await this.probe('/api/orders/soak', { authorization: `Bearer ${previous.traffic.tokens[0]}`, 'x-tenant-id': 'acme' });
    const effective = code === 16;
    return this.result(
      'key retired',
      put,
      applyMs,
      effective,
      effective ? null : `a token of the retired kid ${previous.key.kid} answered status ${code}, not 16 (UNAUTHENTICATED)`,
    );
  }

  /** ms from the put's start to the sidecar's applied line; NaN when it never comes. */
  private async appliedAfter(put: Put): Promise<number> {
    try {
      const line = await this.sidecar.waitForLog(
        (l) => l.msg === 'control document applied' && l.kv_key === put.key && l.revision === put.revision,
        APPLY_TIMEOUT_MS,
      );
      return Date.parse(String(line.time)) - put.startedAt;
    } catch {
      return NaN;
    }
  }

  /** The CheckResponse status code for a GET of `path` (a gRPC error counts as -1). */
  private async probe(path: string, headers: Record<string, string> = {}): Promise<number> {
    let code: number;
    try {
      code = (await this.client.check(envoyRequest({ path, headers }))).status.code;
    } catch {
      return -1;
    }
    if (code === 0) this.probes.allow++;
    else this.probes.deny++;
    return code;
  }

  private result(step: DocumentStep, put: Put, applyMs: number, effective: boolean, problem: string | null): Applied {
    return { step, revision: put.revision, applyMs, putMs: put.ackedAt - put.startedAt, effective, problem };
  }
}
