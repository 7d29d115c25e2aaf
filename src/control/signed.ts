/**
 * Signing and verifying control-plane documents (types.ts): a compact JWS whose protected
 * header is exactly `{ alg, kid, typ: "authz-control+jws" }` and whose payload is a
 * ControlDocument. Verification refuses before it decodes (size cap), before it verifies
 * (header checks, pinned kid, the kid's own algorithm) and before it trusts (kind and
 * target must be those of the KV key the document was read from).
 */
import { isDeepStrictEqual } from 'node:util';
import { CompactSign, compactVerify } from 'jose';
import { parseStrictJson, StrictJsonError, deepFreeze } from '../shared/index.js';
import { ControlError, quoteShort, type ControlErrorCode } from './errors.js';
import { kvKeyFor } from './kv-keys.js';
import type { ControlAlgorithm, ControlSigningKey, Signer, SignerSet } from './signers.js';
import { DOCUMENT_TYP, type ControlDocument, type DocumentKind } from './types.js';

export const DEFAULT_MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;

export interface ExpectedDocument {
  readonly kind: DocumentKind;
  readonly target: string;
}

export interface DocumentLimits {
  /** Largest JWS accepted, in bytes (default 4 MiB). */
  readonly maxBytes?: number;
}

/** For display only (authzctl history): the signature has NOT been checked. */
export interface UnverifiedDocument {
  readonly verified: false;
  readonly alg: string | undefined;
  readonly kid: string | undefined;
  readonly typ: string | undefined;
  readonly document: ControlDocument;
}

const KINDS: readonly string[] = ['policy', 'shadow', 'keys', 'revocations', 'apikeys'] satisfies DocumentKind[];
const ALGORITHMS: readonly string[] = ['EdDSA', 'ES256'] satisfies ControlAlgorithm[];
const HEADER_MEMBERS: readonly string[] = ['alg', 'kid', 'typ'];
const PAYLOAD_MEMBERS: readonly string[] = ['kind', 'target', 'revision', 'issuedAt', 'body'];
const B64URL = /^[A-Za-z0-9_-]+$/;
const MAX_JSON_DEPTH = 64;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Signs exactly the five ControlDocument members; refuses what a sidecar would refuse. */
export async function signDocument(doc: ControlDocument, signingKey: ControlSigningKey, limits: DocumentLimits = {}): Promise<string> {
  const payload = checkPayload({ ...doc }, undefined);
  let key: string;
  try {
    key = kvKeyFor(payload.kind, payload.target);
  } catch {
    throw new ControlError('document_wrong_target', `target ${quoteShort(payload.target)} is not a valid ${payload.kind} target`);
  }
  const text = JSON.stringify(payload);
  if (!isDeepStrictEqual(decodeJson(Buffer.from(text), 'payload', key), payload))
    throw new ControlError('document_malformed', `${key}: body is not plain JSON (undefined, NaN, -0, a Date or class instance)`, { key });
  const jws = await new CompactSign(Buffer.from(text)).setProtectedHeader({ alg: signingKey.alg, kid: signingKey.kid, typ: DOCUMENT_TYP }).sign(signingKey.key);
  const max = maxBytesOf(limits);
  if (jws.length > max) throw new ControlError('document_too_large', `${key}: signed document is ${jws.length} bytes (at most ${max})`, { key });
  return jws;
}

/**
 * The document, deep-frozen, if a pinned signer signed it and it is for `expected` (the
 * kind and target of the KV key it was read from); a ControlError otherwise. Revision
 * ordering is the caller's (see isNewer).
 */
export async function verifyDocument(
  jws: string | Uint8Array,
  signers: SignerSet,
  expected: ExpectedDocument,
  limits: DocumentLimits = {},
): Promise<ControlDocument> {
  const key = kvKeyFor(expected.kind, expected.target);
  const { compact, header, payload } = splitCompact(jws, maxBytesOf(limits), key);
  const signer = pinnedSigner(header, signers, key);
  let verified: Uint8Array;
  try {
    ({ payload: verified } = await compactVerify(compact, signer.key, { algorithms: [signer.alg] }));
  } catch {
    throw fail('document_signature_invalid', key, `signature does not verify with signer ${quoteShort(signer.kid)}`);
  }
  if (Buffer.compare(verified, Buffer.from(payload, 'base64url')) !== 0) throw fail('document_signature_invalid', key, 'verified payload differs');
  const doc = checkPayload(decodeJson(verified, 'payload', key), key);
  if (doc.kind !== expected.kind) throw fail('document_wrong_kind', key, `document kind "${doc.kind}" is not "${expected.kind}"`);
  if (doc.target !== expected.target)
    throw fail('document_wrong_target', key, `document target ${quoteShort(doc.target)} is not ${quoteShort(expected.target)}`);
  return deepFreeze(doc);
}

/** True when `doc` may replace the applied revision (0 = nothing applied yet). */
export function isNewer(doc: Pick<ControlDocument, 'revision'>, appliedRevision: number): boolean {
  return doc.revision > appliedRevision;
}

/** Decodes without verifying, for display: same shape checks, no signature, no trust. */
export function decodeUnverified(jws: string | Uint8Array, limits: DocumentLimits = {}): UnverifiedDocument {
  const { header, payload } = splitCompact(jws, maxBytesOf(limits), undefined);
  const document = checkPayload(decodeJson(Buffer.from(payload, 'base64url'), 'payload', undefined), undefined);
  const str = (value: unknown) => (typeof value === 'string' ? value : undefined);
  return deepFreeze({ verified: false, alg: str(header.alg), kid: str(header.kid), typ: str(header.typ), document });
}

/** Size cap, then three canonical base64url segments (the signature non-empty), then the header. */
function splitCompact(
  jws: string | Uint8Array,
  maxBytes: number,
  key: string | undefined,
): { compact: string; header: Record<string, unknown>; payload: string } {
  let compact: string;
  if (jws instanceof Uint8Array) {
    if (jws.byteLength > maxBytes) throw fail('document_too_large', key, `document is ${jws.byteLength} bytes (at most ${maxBytes})`);
    try {
      compact = utf8.decode(jws);
    } catch {
      throw fail('document_unsigned', key, 'not a compact JWS (not UTF-8)');
    }
  } else if (typeof jws === 'string') {
    // UTF-16 length is at most the UTF-8 length; anything non-ASCII fails the charset check below.
    if (jws.length > maxBytes) throw fail('document_too_large', key, `document is over ${maxBytes} bytes`);
    compact = jws;
  } else {
    throw fail('document_unsigned', key, 'not a compact JWS');
  }
  const parts = compact.split('.', 4);
  if (parts.length !== 3) throw fail('document_unsigned', key, `not a compact JWS (${parts.length > 3 ? 'more than 3' : parts.length} segments)`);
  const [header, payload, signature] = parts as [string, string, string];
  if (signature === '') throw fail('document_unsigned', key, 'not signed (empty signature segment)');
  for (const part of parts) {
    if (!B64URL.test(part) || Buffer.from(part, 'base64url').toString('base64url') !== part)
      throw fail('document_unsigned', key, 'not a compact JWS (a segment is not canonical base64url)');
  }
  return { compact, header: decodeJson(Buffer.from(header, 'base64url'), 'protected header', key), payload };
}

/** The pinned signer the header names, if the header asks for nothing but that signer's algorithm. */
function pinnedSigner(header: Record<string, unknown>, signers: SignerSet, key: string): Signer {
  const { alg, kid, typ } = header;
  if (alg === undefined || (typeof alg === 'string' && alg.toLowerCase() === 'none'))
    throw fail('document_unsigned', key, 'protected header "alg" is missing or "none"');
  const extra = Object.keys(header).find((member) => !HEADER_MEMBERS.includes(member));
  if (extra !== undefined) throw fail('document_signature_invalid', key, `protected header member ${quoteShort(extra)} is not allowed`);
  if (typeof alg !== 'string' || !ALGORITHMS.includes(alg)) throw fail('document_signature_invalid', key, `algorithm ${quoteShort(alg)} is not EdDSA or ES256`);
  if (typ !== DOCUMENT_TYP) throw fail('document_malformed', key, `protected header "typ" ${quoteShort(typ)} is not "${DOCUMENT_TYP}"`);
  if (typeof kid !== 'string') throw fail('document_signature_invalid', key, 'protected header has no string "kid"');
  const signer = signers.get(kid);
  if (signer === undefined) throw fail('document_signature_invalid', key, `kid ${quoteShort(kid)} is not a pinned signer`);
  if (signer.alg !== alg) throw fail('document_signature_invalid', key, `kid ${quoteShort(kid)} is an ${signer.alg} key, not ${alg}`);
  return signer;
}

/** A UTF-8, strict (no duplicate members), bounded-depth JSON object. */
function decodeJson(bytes: Uint8Array, what: string, key: string | undefined): Record<string, unknown> {
  let value: unknown;
  try {
    value = parseStrictJson(utf8.decode(bytes), MAX_JSON_DEPTH);
  } catch (error) {
    const problem = error instanceof StrictJsonError ? error.problem : 'syntax';
    const reason = problem === 'duplicate_key' ? 'has duplicate member names' : problem === 'too_deep' ? 'is nested too deeply' : 'is not UTF-8 JSON';
    throw fail('document_malformed', key, `${what} ${reason}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail('document_malformed', key, `${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

function checkPayload(value: Record<string, unknown>, key: string | undefined): ControlDocument {
  const extra = Object.keys(value).find((member) => !PAYLOAD_MEMBERS.includes(member));
  if (extra !== undefined) throw fail('document_malformed', key, `payload member ${quoteShort(extra)} is not allowed`);
  const { kind, target, revision, issuedAt } = value;
  if (typeof kind !== 'string' || !KINDS.includes(kind))
    throw fail('document_malformed', key, `"kind" ${quoteShort(kind)} is not policy, shadow, keys or revocations`);
  if (typeof target !== 'string' || target === '') throw fail('document_malformed', key, '"target" is not a non-empty string');
  if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 1)
    throw fail('document_malformed', key, '"revision" is not a positive integer');
  if (typeof issuedAt !== 'number' || !Number.isFinite(issuedAt) || issuedAt < 0) throw fail('document_malformed', key, '"issuedAt" is not epoch seconds');
  if (!Object.hasOwn(value, 'body') || value.body === undefined) throw fail('document_malformed', key, '"body" is missing');
  return { kind: kind as DocumentKind, target, revision, issuedAt, body: value.body };
}

function maxBytesOf(limits: DocumentLimits): number {
  const max = limits.maxBytes ?? DEFAULT_MAX_DOCUMENT_BYTES;
  if (!Number.isSafeInteger(max) || max < 1) throw new TypeError('maxBytes must be a positive integer');
  return max;
}

function fail(code: ControlErrorCode, key: string | undefined, reason: string): ControlError {
  return new ControlError(code, key === undefined ? reason : `${key}: ${reason}`, key === undefined ? {} : { key });
}
