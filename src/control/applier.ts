import type { ControlDocument, DocumentKind } from './types.js';
import { ControlError } from './errors.js';
import type { LastGoodCache } from './last-good.js';
import type { SignerSet } from './signers.js';
import { isNewer, verifyDocument } from './signed.js';

/** One document the sidecar follows: its KV key, what it must contain, and how to apply it. */
export interface ControlTarget {
  readonly key: string;
  readonly kind: DocumentKind;
  readonly target: string;
  /**
   * Validates and compiles the body completely, then swaps it in as one snapshot. Throws
   * (anything) when the body is unusable; the previous state then stays in force.
   */
  apply(doc: ControlDocument): void | Promise<void>;
}

export type ApplierEvent =
  | { type: 'document-applied'; key: string; revision: number; source: 'nats' | 'cache' }
  | { type: 'document-rejected'; key: string; code: string; message: string; source: 'nats' | 'cache' }
  | { type: 'document-ignored'; key: string; reason: 'duplicate' | 'deleted'; revision?: number }
  | { type: 'cache-failed'; key: string; code: string; message: string };

export interface LastError {
  readonly key: string;
  readonly code: string;
  readonly message: string;
  readonly at: string;
}

/**
 * Accepts signed documents from NATS or the local cache and applies each whole or not at
 * all, in revision order per key: verify signature, kind and target; refuse a revision not
 * newer than the one applied (no rollback); compile and swap; then persist the still-signed
 * document as the last good state. Deletions from the bucket are ignored: removing state
 * would need no signature, so it is not something NATS alone may do.
 */
export class DocumentApplier {
  private readonly targets: ReadonlyMap<string, ControlTarget>;
  private readonly applied = new Map<string, { revision: number; jws: string }>();
  private readonly queues = new Map<string, Promise<void>>();
  /** Keys whose applied document could not be written to the cache (disk full, read-only…). */
  private readonly uncached = new Set<string>();
  private error: LastError | null = null;

  constructor(
    targets: readonly ControlTarget[],
    private readonly signers: SignerSet,
    private readonly cache: LastGoodCache | null,
    private readonly onEvent: (event: ApplierEvent) => void,
  ) {
    this.targets = new Map(targets.map((t) => [t.key, t]));
  }

  get keys(): string[] {
    return [...this.targets.keys()];
  }

  /** Applied revision per followed key (0 when none yet). */
  revisions(): Record<string, number> {
    return Object.fromEntries(this.keys.map((key) => [key, this.applied.get(key)?.revision ?? 0]));
  }

  lastError(): LastError | null {
    return this.error;
  }

  /** Loads whatever the cache holds for each followed key, re-verifying every signature. */
  async loadCache(): Promise<void> {
    if (this.cache === null) return;
    await Promise.all(
      this.keys.map(async (key) => {
        let jws: string | null;
        try {
          jws = await this.cache!.read(key);
        } catch (error) {
          this.reject(key, error, 'cache');
          return;
        }
        if (jws !== null) await this.accept(key, jws, 'cache');
      }),
    );
  }

  /** A deletion or purge in the bucket: reported, never applied. */
  deleted(key: string): void {
    this.onEvent({ type: 'document-ignored', key, reason: 'deleted' });
  }

  /**
   * A key read from scratch (a fresh start, a re-created bucket): of every value the bucket
   * holds for it (oldest first), applies the highest revision that verifies and applies, not
   * the newest by position. A validly signed old document put back by anyone with publish
   * rights is then refused as stale by a new sidecar too, not only by running ones.
   */
  acceptBest(key: string, values: ReadonlyArray<string | Uint8Array>, source: 'nats' | 'cache'): Promise<void> {
    return this.enqueue(key, () => this.acceptBestNow(key, values.map(asText), source));
  }

  /** Serialised per key, so two deliveries for one key never apply out of order. */
  accept(key: string, value: string | Uint8Array, source: 'nats' | 'cache'): Promise<void> {
    return this.enqueue(key, () => this.acceptNow(key, asText(value), source));
  }

  private enqueue(key: string, fn: () => Promise<void>): Promise<void> {
    // Chained past a failure, so one throw (from a listener, say) never blocks the key for good.
    const previous = (this.queues.get(key) ?? Promise.resolve()).catch(() => undefined);
    const next = previous.then(fn);
    this.queues.set(key, next);
    return next;
  }

  private async acceptNow(key: string, jws: string, source: 'nats' | 'cache'): Promise<void> {
    const target = this.targets.get(key);
    if (target === undefined) return;
    const current = this.applied.get(key);
    // The very bytes already applied (a redelivery): verified then, nothing to do now.
    if (current !== undefined && jws === current.jws) {
      this.onEvent({ type: 'document-ignored', key, reason: 'duplicate', revision: current.revision });
      return;
    }
    let doc: ControlDocument;
    try {
      doc = await verifyDocument(jws, this.signers, { kind: target.kind, target: target.target });
    } catch (error) {
      this.reject(key, error, source);
      return;
    }
    if (current !== undefined && !isNewer(doc, current.revision)) {
      this.reject(key, new ControlError('document_stale', `revision ${doc.revision} is not newer than the applied ${current.revision}`), source);
      return;
    }
    await this.apply(key, target, doc, jws, source);
  }

  private async acceptBestNow(key: string, values: readonly string[], source: 'nats' | 'cache'): Promise<void> {
    const target = this.targets.get(key);
    if (target === undefined || values.length === 0) return;
    const verified: Array<{ doc: ControlDocument; jws: string }> = [];
    let newestError: unknown;
    for (const [index, jws] of values.entries()) {
      try {
        verified.push({ doc: await verifyDocument(jws, this.signers, { kind: target.kind, target: target.target }), jws });
      } catch (error) {
        if (index === values.length - 1) newestError = error;
      }
    }
    const best = [...verified].sort((a, b) => b.doc.revision - a.doc.revision);
    const applied = this.applied.get(key)?.revision ?? 0;
    const highest = Math.max(best[0]?.doc.revision ?? 0, applied);
    for (const { doc, jws } of best) {
      if (!isNewer(doc, applied)) break;
      if (await this.apply(key, target, doc, jws, source)) break;
    }
    // Reported after the apply, so it stays the key's lastError (authzctl status shows it)
    // until a newer revision is published.
    const newest = verified.at(-1);
    if (newestError !== undefined) this.reject(key, newestError, source);
    else if (newest !== undefined && newest.jws === values.at(-1) && newest.doc.revision < highest)
      this.reject(
        key,
        new ControlError('document_stale', `the newest value is revision ${newest.doc.revision}, older than revision ${highest} (a replayed document)`),
        source,
      );
  }

  /** Compiles and swaps a verified document in, then caches it; false when its body is unusable. */
  private async apply(key: string, target: ControlTarget, doc: ControlDocument, jws: string, source: 'nats' | 'cache'): Promise<boolean> {
    try {
      await target.apply(doc);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.reject(key, new ControlError('document_invalid_body', `revision ${doc.revision}: ${message}`), source);
      return false;
    }
    this.applied.set(key, { revision: doc.revision, jws });
    this.error = this.error?.key === key ? null : this.error;
    this.onEvent({ type: 'document-applied', key, revision: doc.revision, source });
    if (source === 'nats' && this.cache !== null && (await this.persist(key, jws))) {
      // The cache works (again): write what it missed for other keys while it did not, or a
      // restart without NATS would find their older documents, or none, after the disk recovered.
      for (const other of [...this.uncached]) {
        const applied = this.applied.get(other);
        if (applied !== undefined) await this.persist(other, applied.jws);
      }
    }
    return true;
  }

  /** Writes the key's document to the cache; a failure is reported (never thrown) and remembered. */
  private async persist(key: string, jws: string): Promise<boolean> {
    try {
      await this.cache!.write(key, jws);
      this.uncached.delete(key);
      return true;
    } catch (error) {
      this.uncached.add(key);
      const code = error instanceof ControlError ? error.code : 'cache_write_failed';
      this.onEvent({ type: 'cache-failed', key, code, message: (error as Error).message });
      return false;
    }
  }

  private reject(key: string, error: unknown, source: 'nats' | 'cache'): void {
    const code = error instanceof ControlError ? error.code : 'document_invalid';
    const message = error instanceof Error ? error.message : String(error);
    this.error = { key, code, message, at: new Date().toISOString() };
    this.onEvent({ type: 'document-rejected', key, code, message, source });
  }
}

function asText(value: string | Uint8Array): string {
  return typeof value === 'string' ? value : Buffer.from(value).toString('utf8');
}
