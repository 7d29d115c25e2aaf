/**
 * Publishing control-plane documents the way authzctl does, in-process: sign with the
 * control-plane key (signDocument) and put into the JetStream KV bucket with nats.js. The
 * put's start and acknowledgement times are what push latencies are measured from.
 */
import { connect, type KV, type NatsConnection } from 'nats';
import { BUCKET_DEFAULTS } from '../src/control/bucket.js';
import { signDocument } from '../src/control/signed.js';
import { loadSigningKey, type ControlSigningKey } from '../src/control/signers.js';
import type { DocumentKind } from '../src/control/types.js';
import { kvKeyFor } from '../src/control/kv-keys.js';

export const BUCKET = 'authz';

export interface Put {
  readonly key: string;
  readonly revision: number;
  /** Date.now() just before kv.put, and when JetStream acknowledged it. */
  readonly startedAt: number;
  readonly ackedAt: number;
}

export class Publisher {
  private readonly revisions = new Map<string, number>();

  private constructor(
    private readonly nc: NatsConnection,
    private readonly kv: KV,
    private readonly signingKey: ControlSigningKey,
  ) {}

  /** Connects and creates the bucket (with authzctl's settings) when missing. */
  static async open(natsUrl: string, signingKeyFile: string): Promise<Publisher> {
    const nc = await connect({ servers: natsUrl });
    const kv = await nc.jetstream().views.kv(BUCKET, { ...BUCKET_DEFAULTS });
    return new Publisher(nc, kv, await loadSigningKey(signingKeyFile));
  }

  /** Signs `body` as the key's next revision (untimed), then puts it. */
  async publish(kind: DocumentKind, target: string, body: unknown): Promise<Put> {
    const key = kvKeyFor(kind, target);
    const revision = (this.revisions.get(key) ?? 0) + 1;
    const jws = await signDocument({ kind, target, revision, issuedAt: Math.floor(Date.now() / 1000), body }, this.signingKey);
    const startedAt = Date.now();
    await this.kv.put(key, new TextEncoder().encode(jws));
    const ackedAt = Date.now();
    this.revisions.set(key, revision);
    return { key, revision, startedAt, ackedAt };
  }

  close(): Promise<void> {
    return this.nc.close();
  }
}
