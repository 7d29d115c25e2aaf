/**
 * Control-plane keys: the public JWKs a sidecar pins (`nats.signers`) and the private JWK
 * authzctl signs with. Only Ed25519 (EdDSA) and P-256 (ES256), each with a `kid`. Errors are
 * DocumentErrors naming the file, so the sidecar exits with one line; a message names members
 * (`d`, `kty`), never their values, except the `kid`, `kty`, `crv` and `alg`, quoted short.
 */
import { open } from 'node:fs/promises';
import { importJWK, type CryptoKey, type JWK } from 'jose';
import { DocumentError, parseStrictJson, StrictJsonError } from '../shared/index.js';
import { ed25519KeyProblem } from '../keys/index.js';
import { quoteShort } from './errors.js';

export type ControlAlgorithm = 'EdDSA' | 'ES256';

export interface Signer {
  readonly kid: string;
  readonly alg: ControlAlgorithm;
  readonly key: CryptoKey;
  /** The file it was pinned from, for messages. */
  readonly file: string;
}

/** kid → pinned public key. */
export type SignerSet = ReadonlyMap<string, Signer>;

export interface ControlSigningKey {
  readonly kid: string;
  readonly alg: ControlAlgorithm;
  readonly key: CryptoKey;
  /** The public half, so a publisher trusts documents it signed itself. */
  readonly verifyKey: CryptoKey;
}

/** A JWK is a few hundred bytes; this bounds what a wrong path (a log file, a device) costs. */
const MAX_JWK_FILE_BYTES = 64 * 1024;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'] as const;
/** Printable ASCII without spaces: a kid ends up in headers, logs and status reports. */
const KID = /^[\x21-\x7e]{1,256}$/;
const B64URL = /^[A-Za-z0-9_-]+$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads and imports every pinned public key; any refusal refuses them all. */
export async function loadSigners(paths: readonly string[]): Promise<SignerSet> {
  if (paths.length === 0) throw new TypeError('loadSigners: at least one signer file is required');
  const signers = new Map<string, Signer>();
  for (const file of paths) {
    const jwk = await readJwkFile(file);
    const priv = PRIVATE_MEMBERS.find((member) => Object.hasOwn(jwk, member));
    if (priv !== undefined) throw new DocumentError(file, '', `contains private key member "${priv}"; pin the public key only`);
    const { kid, alg, members } = checkKey(jwk, file, 'verify');
    const other = signers.get(kid);
    if (other !== undefined) throw new DocumentError(file, 'kid', `duplicate kid ${quoteShort(kid)} (also in ${other.file})`);
    const key = await importAs(members, alg, file, 'public');
    signers.set(kid, Object.freeze({ kid, alg, key, file }));
  }
  return signers;
}

/** The private JWK authzctl signs control documents with. */
export async function loadSigningKey(path: string): Promise<ControlSigningKey> {
  const jwk = await readJwkFile(path);
  if (!Object.hasOwn(jwk, 'd')) throw new DocumentError(path, '', 'this is a public key (no "d"); signing needs the private JWK');
  const { kid, alg, members } = checkKey(jwk, path, 'sign');
  if (typeof jwk.d !== 'string' || !B64URL.test(jwk.d)) throw new DocumentError(path, '', 'member "d" is not base64url');
  const key = await importAs({ ...members, d: jwk.d }, alg, path, 'private');
  const verifyKey = await importAs(members, alg, path, 'public');
  return Object.freeze({ kid, alg, key, verifyKey });
}

async function readJwkFile(file: string): Promise<Record<string, unknown>> {
  let bytes: Buffer;
  try {
    const handle = await open(file, 'r');
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new DocumentError(file, '', 'not a regular file');
      if (stat.size > MAX_JWK_FILE_BYTES) throw new DocumentError(file, '', `larger than ${MAX_JWK_FILE_BYTES} bytes; expected one JWK`);
      bytes = await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof DocumentError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new DocumentError(file, '', code === 'ENOENT' ? 'file not found' : `cannot read (${code ?? 'error'})`, { cause: error });
  }
  let value: unknown;
  try {
    value = parseStrictJson(utf8.decode(bytes), 8);
  } catch (error) {
    const dup = error instanceof StrictJsonError && error.problem === 'duplicate_key';
    throw new DocumentError(file, '', dup ? 'JWK has duplicate member names' : 'not a UTF-8 JSON JWK');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new DocumentError(file, '', 'expected a JWK object');
  if (Object.hasOwn(value, 'keys')) throw new DocumentError(file, '', 'this is a key set (JWKS); give one JWK per file');
  return value as Record<string, unknown>;
}

/** Checks kty/crv/alg/use/key_ops/kid and keeps only the members that define the public key. */
function checkKey(jwk: Record<string, unknown>, file: string, op: 'verify' | 'sign'): { kid: string; alg: ControlAlgorithm; members: JWK } {
  const { kty, crv } = jwk;
  let alg: ControlAlgorithm;
  let members: JWK;
  if (kty === 'OKP' && crv === 'Ed25519') {
    alg = 'EdDSA';
    members = { kty, crv, x: ed25519X(jwk, file) };
  } else if (kty === 'EC' && crv === 'P-256') {
    alg = 'ES256';
    members = { kty, crv, x: b64(jwk, 'x', file), y: b64(jwk, 'y', file) };
  } else {
    const shape = crv === undefined ? `kty ${quoteShort(kty)}` : `kty ${quoteShort(kty)}, crv ${quoteShort(crv)}`;
    throw new DocumentError(file, '', `unsupported key (${shape}); a control-plane key is Ed25519 (OKP) or P-256 (EC)`);
  }
  if (jwk.alg !== undefined && jwk.alg !== alg) throw new DocumentError(file, '', `alg ${quoteShort(jwk.alg)} does not fit this key (expected "${alg}")`);
  if (jwk.use !== undefined && jwk.use !== 'sig') throw new DocumentError(file, '', `use ${quoteShort(jwk.use)}; a control-plane key has use "sig"`);
  const ops = jwk.key_ops;
  if (ops !== undefined && (!Array.isArray(ops) || !ops.includes(op))) throw new DocumentError(file, '', `"key_ops" does not include "${op}"`);
  const kid = jwk.kid;
  if (kid === undefined) throw new DocumentError(file, 'kid', 'required: documents name their signer by kid');
  if (typeof kid !== 'string' || !KID.test(kid)) throw new DocumentError(file, 'kid', 'must be 1 to 256 printable ASCII characters without spaces');
  return { kid, alg, members };
}

async function importAs(jwk: JWK, alg: ControlAlgorithm, file: string, type: 'public' | 'private'): Promise<CryptoKey> {
  let key: CryptoKey | Uint8Array;
  try {
    key = await importJWK(jwk, alg, { extractable: type === 'public' });
  } catch {
    throw new DocumentError(file, '', `key material does not import as an ${alg} ${type} key`);
  }
  if (key instanceof Uint8Array || key.type !== type) throw new DocumentError(file, '', `not an ${alg} ${type} key`);
  return key;
}

/**
 * node:crypto imports any 32 bytes as an Ed25519 public key, including a small-order point
 * that verifies a signature made without the private key (keys/ed25519.ts): pinning one
 * would let anyone sign control documents.
 */
function ed25519X(jwk: Record<string, unknown>, file: string): string {
  const x = b64(jwk, 'x', file);
  const bytes = Buffer.from(x, 'base64url');
  const problem = ed25519KeyProblem(bytes);
  if (problem === 'wrong_length') throw new DocumentError(file, '', `member "x" is ${bytes.length} bytes; an Ed25519 key is 32`);
  if (problem === 'small_order')
    throw new DocumentError(file, '', 'member "x" is a small-order Ed25519 point; it would verify documents signed without a private key');
  if (problem === 'non_canonical') throw new DocumentError(file, '', 'member "x" is not a canonical Ed25519 encoding (y ≥ 2^255 − 19)');
  if (problem === 'not_on_curve') throw new DocumentError(file, '', 'member "x" is not a point on Ed25519');
  return x;
}

function b64(jwk: Record<string, unknown>, member: string, file: string): string {
  const value = jwk[member];
  if (typeof value !== 'string' || !B64URL.test(value)) throw new DocumentError(file, '', `member "${member}" is missing or not base64url`);
  return value;
}
