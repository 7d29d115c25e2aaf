/**
 * API keys: the key format, its hash, and the immutable set of entries a sidecar checks
 * presented keys against. A key is `ak_<id>_<secret>`: `id` is 8 random bytes in hex, not
 * secret, and picks the entry; `secret` is 32 random bytes in base64url. Entries hold only
 * the SHA-256 of the whole key, never the key: a fast hash is enough because the secret has
 * 256 bits of entropy (docs/security.md#api-keys), and the comparison is constant-time.
 */
import crypto from 'node:crypto';
import { deepFreeze, parseStrictJson, StrictJsonError } from '../shared/index.js';
import { KeySetError } from './errors.js';

export const API_KEY_PREFIX = 'ak_';
export const MAX_API_KEYS = 10_000;
/** Largest key set file or document body, in bytes of JSON. */
export const MAX_API_KEYS_BYTES = 4 * 1024 * 1024;

const KEY_FORMAT = /^ak_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const ID_FORMAT = /^[0-9a-f]{16}$/;
const HASH_FORMAT = /^sha256:([A-Za-z0-9_-]{43})$/;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const SCOPE = /^[\x21-\x7e]+$/;
const CONTROL = /[\u0000-\u001f\u007f]/;
/** Claim names an entry's `claims` may not set: the sidecar fills them from the entry itself. */
const RESERVED_CLAIMS: readonly string[] = ['iss', 'sub', 'jti', 'scope', 'roles', 'exp'];
const ENTRY_FIELDS: readonly string[] = ['id', 'hash', 'subject', 'roles', 'scopes', 'claims', 'expiresAt', 'createdAt', 'description'];

/** One API key as a set holds it: who the caller is, and the hash of the key. */
export interface ApiKeyEntry {
  /** The key's non-secret id (16 lower-case hex digits), also its part of the key text. */
  readonly id: string;
  /** `sha256:` and the base64url SHA-256 of the whole key text. */
  readonly hash: string;
  readonly subject: string;
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
  /** Extra claims policies read as `request.auth.claims` (e.g. a tenant). */
  readonly claims: Readonly<Record<string, unknown>>;
  /** Epoch seconds after which the key is refused; undefined: it does not expire. */
  readonly expiresAt: number | undefined;
  readonly description: string | undefined;
}

/** What checking a presented key against a set found. */
export type ApiKeyMatch =
  | { readonly result: 'ok'; readonly entry: ApiKeyEntry }
  /** Not `ak_<id>_<secret>`. */
  | { readonly result: 'malformed' }
  /** No entry has this id, or the entry's hash is not this key's. */
  | { readonly result: 'unknown' }
  /** The key is right and its entry has expired. */
  | { readonly result: 'expired'; readonly entry: ApiKeyEntry };

/** A new random key with its id and hash; the key itself must be shown once and never stored. */
export function generateApiKey(): { readonly key: string; readonly id: string; readonly hash: string } {
  const id = crypto.randomBytes(8).toString('hex');
  const key = `${API_KEY_PREFIX}${id}_${crypto.randomBytes(32).toString('base64url')}`;
  return { key, id, hash: hashApiKey(key) };
}

/** The hash an entry stores for `key`: `sha256:<base64url digest>`. */
export function hashApiKey(key: string): string {
  return `sha256:${digestOf(key).toString('base64url')}`;
}

/** The id in a well-formed key, or null. */
export function apiKeyId(key: string): string | null {
  return KEY_FORMAT.exec(key)?.[1] ?? null;
}

function digestOf(key: string): Buffer {
  return crypto.hash('sha256', key, 'buffer');
}

/** Compared against when no entry has the id, so an unknown id costs the same work as a wrong secret. */
const NO_DIGEST = Buffer.alloc(32);

/**
 * An immutable set of API key entries, looked up by id. The id only picks the entry; the key
 * is accepted when the SHA-256 of the presented text equals the entry's, compared with
 * crypto.timingSafeEqual.
 */
export class ApiKeySet {
  static readonly EMPTY = new ApiKeySet([], 0);

  readonly revision: number;
  readonly size: number;
  readonly #byId: ReadonlyMap<string, { readonly entry: ApiKeyEntry; readonly digest: Buffer }>;

  constructor(entries: readonly ApiKeyEntry[], revision: number) {
    this.#byId = new Map(entries.map((entry) => [entry.id, { entry, digest: Buffer.from(HASH_FORMAT.exec(entry.hash)![1], 'base64url') }]));
    this.revision = revision;
    this.size = entries.length;
  }

  /** The same entries under another revision (the store numbers what it holds). */
  withRevision(revision: number): ApiKeySet {
    return new ApiKeySet(this.entries(), revision);
  }

  entries(): ApiKeyEntry[] {
    return [...this.#byId.values()].map((e) => e.entry);
  }

  /** True when both hold the same entries, in any order (a rewritten file that changed nothing is not a new revision). */
  sameEntriesAs(other: ApiKeySet): boolean {
    if (other.size !== this.size) return false;
    for (const [id, { entry }] of this.#byId) if (JSON.stringify(other.#byId.get(id)?.entry) !== JSON.stringify(entry)) return false;
    return true;
  }

  /** Checks a presented key; `nowSeconds` decides expiry. Only a key whose hash matched can be reported expired. */
  match(key: string, nowSeconds: number): ApiKeyMatch {
    const format = KEY_FORMAT.exec(key);
    if (format === null) return { result: 'malformed' };
    const known = this.#byId.get(format[1]);
    // Called through the module object so that a test can observe that the comparison runs.
    const equal = crypto.timingSafeEqual(digestOf(key), known?.digest ?? NO_DIGEST);
    if (known === undefined || !equal) return { result: 'unknown' };
    const { entry } = known;
    if (entry.expiresAt !== undefined && entry.expiresAt <= nowSeconds) return { result: 'expired', entry };
    return { result: 'ok', entry };
  }
}

/**
 * A key set file's text, or a control-plane document's body: `{ "keys": [entry, …] }`.
 * Refused as a whole (KeySetError `api_keys_malformed`, naming the entry and field, never a
 * hash) when it is not strict JSON, an entry has an unknown field (a plain `key` included:
 * only hashes may be stored), a field of the wrong shape, or an id or hash twice.
 */
export function parseApiKeys(source: unknown): ApiKeySet {
  let body = source;
  if (typeof source === 'string') {
    if (Buffer.byteLength(source, 'utf8') > MAX_API_KEYS_BYTES) throw malformed(`is larger than ${MAX_API_KEYS_BYTES} bytes`);
    try {
      body = parseStrictJson(source);
    } catch (error) {
      throw malformed(error instanceof StrictJsonError && error.problem === 'duplicate_key' ? 'has a duplicate JSON member' : 'is not valid JSON');
    }
  }
  if (!isObject(body) || !Array.isArray(body.keys)) throw malformed('must be an object with a "keys" array');
  const unknown = Object.keys(body).find((name) => name !== 'keys');
  if (unknown !== undefined) throw malformed(`${unknown}: unknown field`);
  const raw = body.keys as unknown[];
  if (raw.length > MAX_API_KEYS) throw malformed(`has ${raw.length} keys (at most ${MAX_API_KEYS})`);
  const ids = new Set<string>();
  const hashes = new Set<string>();
  const entries = raw.map((value, i) => {
    const entry = parseEntry(value, `keys[${i}]`);
    if (ids.has(entry.id)) throw malformed(`keys[${i}].id: "${entry.id}" is used twice`);
    if (hashes.has(entry.hash)) throw malformed(`keys[${i}].hash: the same hash as another entry`);
    ids.add(entry.id);
    hashes.add(entry.hash);
    return entry;
  });
  return new ApiKeySet(entries, 0);
}

function parseEntry(value: unknown, at: string): ApiKeyEntry {
  if (!isObject(value)) throw malformed(`${at}: must be an object`);
  const unknown = Object.keys(value).find((name) => !ENTRY_FIELDS.includes(name));
  if (unknown !== undefined)
    throw malformed(
      `${at}.${unknown}: unknown field${unknown === 'key' || unknown === 'secret' ? ' (store the hash only: authzctl apikey create writes it)' : ''}`,
    );
  const { id, hash, subject, roles, scopes, claims, expiresAt, createdAt, description } = value;
  if (typeof id !== 'string' || !ID_FORMAT.test(id)) throw malformed(`${at}.id: must be 16 lower-case hex digits (the id part of ak_<id>_<secret>)`);
  if (typeof hash !== 'string' || !HASH_FORMAT.test(hash)) throw malformed(`${at}.hash: must be "sha256:" and 43 base64url characters`);
  if (!isText(subject)) throw malformed(`${at}.subject: must be a non-empty string without control characters`);
  if (description !== undefined && (typeof description !== 'string' || description.length > 1024))
    throw malformed(`${at}.description: must be a string of at most 1024 characters`);
  if (createdAt !== undefined) epochOf(createdAt, `${at}.createdAt`);
  return Object.freeze({
    id,
    hash,
    subject,
    roles: Object.freeze(stringList(roles, `${at}.roles`, isText)),
    scopes: Object.freeze(stringList(scopes, `${at}.scopes`, (s) => SCOPE.test(s))),
    claims: extraClaims(claims, `${at}.claims`),
    expiresAt: expiresAt === undefined ? undefined : epochOf(expiresAt, `${at}.expiresAt`),
    description,
  });
}

function stringList(value: unknown, at: string, valid: (s: string) => boolean): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > 256 || !value.every((v) => typeof v === 'string' && v.length <= 1024 && valid(v)))
    throw malformed(`${at}: must be a list of at most 256 non-empty strings${at.endsWith('scopes') ? ' without spaces' : ''}`);
  return [...(value as string[])];
}

function extraClaims(value: unknown, at: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (!isObject(value)) throw malformed(`${at}: must be an object`);
  const reserved = Object.keys(value).find((name) => RESERVED_CLAIMS.includes(name));
  if (reserved !== undefined) throw malformed(`${at}.${reserved}: reserved (set from the entry's own fields)`);
  return deepFreeze(structuredClone(value));
}

/** An ISO 8601 UTC time (`2027-01-31T00:00:00Z`) → epoch seconds. */
function epochOf(value: unknown, at: string): number {
  const ms = typeof value === 'string' && ISO_UTC.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw malformed(`${at}: must be a UTC time like "2027-01-31T00:00:00Z"`);
  return Math.floor(ms / 1000);
}

function isText(value: unknown): value is string {
  return typeof value === 'string' && value !== '' && value.length <= 1024 && !CONTROL.test(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function malformed(message: string): KeySetError {
  return new KeySetError('api_keys_malformed', message);
}
