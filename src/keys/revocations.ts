/** One revocation: a token id or a subject (optionally of one issuer), in force until `until`. */
export interface RevocationEntry {
  readonly jti?: string;
  readonly sub?: string;
  /** `iss` the `sub` belongs to; absent = any issuer. */
  readonly iss?: string;
  /** Epoch seconds; the entry is dropped after this (set it to the tokens' longest lifetime). */
  readonly until: number;
}

/** What a revocation is matched against: the claims of a verified token (tokens' VerifiedToken). */
export interface RevocableToken {
  readonly jti: string | undefined;
  /** `sub`, "" when absent. */
  readonly subject: string;
  /** `iss`. */
  readonly issuer: string;
}

export const MAX_REVOCATIONS = 100_000;

/** A refused revocation document; the message names the entry, never a token. */
export class RevocationListError extends Error {
  override readonly name = 'RevocationListError';
}

/**
 * An immutable set of revoked token ids and subjects. Looked up on every Check, after the
 * verified-token cache, so a revocation applies at once to tokens already cached. Entries
 * past `until` no longer count (they expire with the tokens they were written for).
 */
export class RevocationList {
  static readonly EMPTY = new RevocationList([], 0);

  readonly revision: number;
  readonly size: number;
  /** jti → until (epoch s). */
  private readonly jtis: ReadonlyMap<string, number>;
  /** sub → (iss or "" for any issuer) → until. */
  private readonly subjects: ReadonlyMap<string, ReadonlyMap<string, number>>;

  constructor(entries: readonly RevocationEntry[], revision: number) {
    const jtis = new Map<string, number>();
    const subjects = new Map<string, Map<string, number>>();
    for (const entry of entries) {
      if (entry.jti !== undefined) jtis.set(entry.jti, Math.max(entry.until, jtis.get(entry.jti) ?? 0));
      if (entry.sub !== undefined) {
        const byIssuer = subjects.get(entry.sub) ?? new Map<string, number>();
        const iss = entry.iss ?? '';
        byIssuer.set(iss, Math.max(entry.until, byIssuer.get(iss) ?? 0));
        subjects.set(entry.sub, byIssuer);
      }
    }
    this.jtis = jtis;
    this.subjects = subjects;
    this.revision = revision;
    this.size = entries.length;
  }

  /** True when the token's jti, or its subject (for its issuer or any), is revoked now. */
  revokes(token: RevocableToken, nowSeconds: number): boolean {
    if (this.size === 0) return false;
    if (token.jti !== undefined) {
      const until = this.jtis.get(token.jti);
      if (until !== undefined && until > nowSeconds) return true;
    }
    const byIssuer = this.subjects.get(token.subject);
    if (byIssuer === undefined || token.subject === '') return false;
    const any = byIssuer.get('') ?? 0;
    const own = byIssuer.get(token.issuer) ?? 0;
    return Math.max(any, own) > nowSeconds;
  }
}

/** Validates a revocations document body: `{ entries: [{ jti | sub, iss?, until }] }`. */
export function parseRevocations(body: unknown, revision: number): RevocationList {
  if (typeof body !== 'object' || body === null || Array.isArray(body) || !Array.isArray((body as { entries?: unknown }).entries))
    throw new RevocationListError('must be an object with an "entries" list');
  const raw = (body as { entries: unknown[] }).entries;
  if (raw.length > MAX_REVOCATIONS) throw new RevocationListError(`has ${raw.length} entries (at most ${MAX_REVOCATIONS})`);
  const entries = raw.map((value, i): RevocationEntry => {
    const at = `entries[${i}]`;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RevocationListError(`${at}: must be an object`);
    const { jti, sub, iss, until, ...rest } = value as Record<string, unknown>;
    const unknown = Object.keys(rest)[0];
    if (unknown !== undefined) throw new RevocationListError(`${at}.${unknown}: unknown field`);
    for (const [name, field] of [
      ['jti', jti],
      ['sub', sub],
      ['iss', iss],
    ] as const)
      if (field !== undefined && (typeof field !== 'string' || field === '' || field.length > 1024))
        throw new RevocationListError(`${at}.${name}: must be a non-empty string`);
    if ((jti === undefined) === (sub === undefined)) throw new RevocationListError(`${at}: must name exactly one of jti, sub`);
    if (iss !== undefined && sub === undefined) throw new RevocationListError(`${at}.iss: only applies to a sub`);
    if (typeof until !== 'number' || !Number.isFinite(until) || until <= 0) throw new RevocationListError(`${at}.until: must be epoch seconds`);
    return { jti: jti as string | undefined, sub: sub as string | undefined, iss: iss as string | undefined, until };
  });
  return new RevocationList(entries, revision);
}

/**
 * Holds the revocation list in force. Listeners run before the swap, so caches can drop
 * what the new list revokes; the swap itself is one reference assignment.
 */
export class RevocationStore {
  private list = RevocationList.EMPTY;
  private readonly listeners: Array<(next: RevocationList) => void> = [];

  current(): RevocationList {
    return this.list;
  }

  swap(next: RevocationList): void {
    for (const listener of this.listeners) listener(next);
    this.list = next;
  }

  onChange(listener: (next: RevocationList) => void): void {
    this.listeners.push(listener);
  }
}
