/**
 * The Ed25519 public-key checks OpenSSL leaves out. node:crypto imports any 32 bytes as an
 * Ed25519 public key and reduces y modulo p when it decodes one, so it takes a small-order
 * point (the identity, `x = AQAAAA…`) and then verifies R = identity, S = 0 on every message,
 * a signature made without any private key. It also takes y ≥ p (`p + 1` is the identity
 * again) and x = 0 with the sign bit set. A key from a real key pair is never any of these
 * (it is [s]B with s a multiple of 8), so refusing them costs no legitimate key.
 */

/** The field prime p = 2^255 − 19. */
const P = 2n ** 255n - 19n;
/** The curve constant d = −121665 / 121666 mod p (RFC 8032 §5.1). */
const D = 0x52036cee2b6ffe738cc740797779e89800700a4d4141d8ab75eb4dca135978a3n;

/**
 * The 8 points of order dividing 8 (the torsion subgroup: identity, one of order 2, two of
 * order 4, four of order 8), in canonical encoding. test/unit/keys-ed25519.test.ts decodes
 * each and checks [8]T = identity with arithmetic of its own, and that they are 8 distinct
 * points, which is all of them.
 */
export const SMALL_ORDER_POINTS: readonly string[] = Object.freeze([
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0000000000000000000000000000000000000000000000000000000000000080',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
]);

/**
 * Their y coordinates (5 values: ±x share one y). A lenient decoder maps any encoding whose
 * y is one of these modulo p, whatever the sign bit, onto a small-order point or onto nothing.
 */
const SMALL_ORDER_Y: ReadonlySet<bigint> = new Set(SMALL_ORDER_POINTS.map((hex) => yOf(Buffer.from(hex, 'hex'))));

export type Ed25519KeyProblem =
  /** Not 32 bytes. */
  | 'wrong_length'
  /** One of the 8 torsion points, in any encoding (canonical, y + p, either sign bit). */
  | 'small_order'
  /** y ≥ p: RFC 8032 §5.1.3 says decoding fails. */
  | 'non_canonical'
  /** No x satisfies the curve equation for this y. */
  | 'not_on_curve';

/** What is wrong with `x` (an Ed25519 public key, RFC 8037's JWK `x`) as a signature key; undefined when nothing is. */
export function ed25519KeyProblem(x: Uint8Array): Ed25519KeyProblem | undefined {
  if (x.length !== 32) return 'wrong_length';
  const y = yOf(x);
  // Before the canonical check, so the identity spelled y = p + 1 is reported for what it is.
  if (SMALL_ORDER_Y.has(y % P)) return 'small_order';
  if (y >= P) return 'non_canonical';
  // x² = (y² − 1) / (d·y² + 1) must be a square. x = 0 only for y = ±1, both refused above,
  // so "x = 0 with the sign bit set" cannot reach this point.
  const y2 = (y * y) % P;
  const u = (y2 - 1n + P) % P;
  const v = (D * y2 + 1n) % P;
  return isSquare((u * power(v, P - 2n)) % P) ? undefined : 'not_on_curve';
}

/** y: the 255 low bits, little-endian (the top bit is the sign of x). */
function yOf(bytes: Uint8Array): bigint {
  let y = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) y = (y << 8n) | BigInt(bytes[i]);
  return y & ((1n << 255n) - 1n);
}

/** Euler's criterion: a is 0 or a quadratic residue mod p. */
function isSquare(a: bigint): boolean {
  return a === 0n || power(a, (P - 1n) / 2n) === 1n;
}

function power(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  let b = base % P;
  for (let e = exponent; e > 0n; e >>= 1n) {
    if ((e & 1n) === 1n) result = (result * b) % P;
    b = (b * b) % P;
  }
  return result;
}
