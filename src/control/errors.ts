/**
 * Why a control-plane document or the last-good cache was refused. The code is stable: it is
 * the status report's `lastError.code`, the metrics label and the log field, and tests assert
 * on it. Messages name the KV key and the failing member, never key material, a signature or
 * the document itself; values from a document are quoted short (`quoteShort`).
 */
export type ControlErrorCode =
  /** Not a compact JWS (not three canonical base64url segments, empty signature), or `alg` missing or `none`. */
  | 'document_unsigned'
  /**
   * No pinned signer verifies it: `kid` missing or unknown, `alg` not EdDSA/ES256 or not the
   * signer's, a header member other than `alg`/`kid`/`typ` (`crit`, `jku`, `jwk`, `x5u`,
   * `x5c`, `b64`, ...), or the signature does not verify.
   */
  | 'document_signature_invalid'
  /** Header or payload not a UTF-8 strict JSON object (duplicate members), `typ` not `authz-control+jws`, payload members missing, unknown or of the wrong type. */
  | 'document_malformed'
  /** Signed and well formed, but its `kind` is not the one its KV key holds. */
  | 'document_wrong_kind'
  /** Signed and well formed, but its `target` is not the one its KV key holds. */
  | 'document_wrong_target'
  /** Its revision is not newer than the one already applied (no rollback). */
  | 'document_stale'
  /** The body is not a valid policy / JWKS / revocation list (raised by the applier). */
  | 'document_invalid_body'
  /** Over the size cap; refused before anything is decoded. */
  | 'document_too_large'
  /** A last-good cache file cannot be read, is not UTF-8 or is over the size cap. */
  | 'cache_corrupt'
  /** The last-good cache could not be written (the state in memory is still applied). */
  | 'cache_write_failed';

export class ControlError extends Error {
  override readonly name = 'ControlError';
  readonly code: ControlErrorCode;
  /** The KV key the document or cache file belongs to, when known. */
  readonly key: string | undefined;
  /** The errno code (`EACCES`, `ENOSPC`, ...) of a failed cache read or write. */
  readonly errno: string | undefined;

  constructor(code: ControlErrorCode, message: string, options: { key?: string; errno?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.key = options.key;
    this.errno = options.errno;
  }
}

const MAX_QUOTED = 64;

/**
 * A value from an untrusted document, for a message: JSON-quoted (so control characters
 * cannot forge log lines) and cut to a few dozen characters (so a message never carries a
 * whole document).
 */
export function quoteShort(value: unknown): string {
  if (typeof value !== 'string') return value === null ? 'null' : `(${Array.isArray(value) ? 'array' : typeof value})`;
  return JSON.stringify(value.length > MAX_QUOTED ? `${value.slice(0, MAX_QUOTED)}…` : value);
}
