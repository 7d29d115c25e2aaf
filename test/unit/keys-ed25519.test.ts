import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { nodeKeyPair } from '../../testkit/key-pair.js';
import { ed25519KeyProblem, SMALL_ORDER_POINTS } from '../../src/keys/ed25519.js';

/*
 * Curve arithmetic of the test's own (affine twisted Edwards, a = −1, RFC 8032 §5.1), written
 * from the curve facts and not from src/keys/ed25519.ts, so the listed points and the checks
 * are verified rather than trusted.
 */
const P = 2n ** 255n - 19n;
const mod = (a: bigint): bigint => ((a % P) + P) % P;
const pow = (base: bigint, exponent: bigint): bigint => {
  let result = 1n;
  let b = mod(base);
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
  }
  return result;
};
const inv = (a: bigint): bigint => pow(a, P - 2n);
const D = mod(-121665n * inv(121666n));
const SQRT_M1 = pow(2n, (P - 1n) / 4n);

type Point = readonly [x: bigint, y: bigint];
const IDENTITY: Point = [0n, 1n];
const same = (a: Point, b: Point): boolean => a[0] === b[0] && a[1] === b[1];
const onCurve = ([x, y]: Point): boolean => mod(-x * x + y * y) === mod(1n + D * x * x * y * y);
function add([x1, y1]: Point, [x2, y2]: Point): Point {
  const t = mod(D * x1 * x2 * y1 * y2);
  return [mod((x1 * y2 + y1 * x2) * inv(1n + t)), mod((y1 * y2 + x1 * x2) * inv(1n - t))];
}
function times(point: Point, k: number): Point {
  let result = IDENTITY;
  for (let i = 0; i < k; i++) result = add(result, point);
  return result;
}

/** RFC 8032 §5.1.3, strict: undefined for y ≥ p, no square root, or x = 0 with the sign bit. */
function decode(bytes: Uint8Array): Point | undefined {
  const sign = bytes[31] >> 7;
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(i === 31 ? bytes[i] & 0x7f : bytes[i]);
  if (y >= P) return undefined;
  const u = mod(y * y - 1n);
  const v = mod(D * y * y + 1n);
  let x = mod(u * pow(v, 3n) * pow(u * pow(v, 7n), (P - 5n) / 8n));
  if (mod(v * x * x) === mod(-u)) x = mod(x * SQRT_M1);
  else if (mod(v * x * x) !== u) return undefined;
  if (x === 0n && sign === 1) return undefined;
  if (Number(x & 1n) !== sign) x = mod(-x);
  return [x, y];
}

function encode([x, y]: Point): Buffer {
  const bytes = Buffer.alloc(32);
  for (let i = 0, v = y; i < 32; i++, v >>= 8n) bytes[i] = Number(v & 0xffn);
  if (x & 1n) bytes[31] |= 0x80;
  return bytes;
}

/** Any y (even ≥ p) with a chosen sign bit, as the 32 bytes a JWK `x` decodes to. */
function rawEncoding(y: bigint, sign: 0 | 1): Buffer {
  const bytes = encode([0n, y]);
  if (sign === 1) bytes[31] |= 0x80;
  return bytes;
}

/** The smallest k of 1, 2, 4, 8 with [k]T = identity, or undefined. */
function smallOrder(point: Point): number | undefined {
  return [1, 2, 4, 8].find((k) => same(times(point, k), IDENTITY));
}

describe('Ed25519 small-order points', () => {
  it('the list holds 8 distinct canonical points, each of order dividing 8: the whole torsion subgroup', () => {
    const points = SMALL_ORDER_POINTS.map((hex) => {
      const point = decode(Buffer.from(hex, 'hex'));
      assert.ok(point !== undefined, `${hex} decodes`);
      assert.ok(onCurve(point), `${hex} is on the curve`);
      assert.equal(encode(point).toString('hex'), hex, `${hex} is canonical`);
      return point;
    });
    assert.equal(new Set(SMALL_ORDER_POINTS).size, 8);
    const orders = points.map((point) => smallOrder(point));
    assert.deepEqual(orders.slice().sort(), [1, 2, 4, 4, 8, 8, 8, 8], 'orders: identity, one of 2, two of 4, four of 8');
    // The curve group has order 8·L with L prime, and its 8-torsion is cyclic: a point of
    // order 8 generates every point of order dividing 8, and the list is exactly those.
    const generator = points[orders.indexOf(8)];
    const generated = Array.from({ length: 8 }, (_, k) => encode(times(generator, k)).toString('hex'));
    assert.deepEqual(generated.slice().sort(), SMALL_ORDER_POINTS.slice().sort());
  });

  it('the base point is on the curve, of large order, and accepted', () => {
    const base = decode(rawEncoding(mod(4n * inv(5n)), 0));
    assert.ok(base !== undefined && onCurve(base));
    assert.equal(base[0], 15112221349535400772501151409588531511454012693041857206046113283949847762202n, 'RFC 8032 B.x');
    assert.equal(smallOrder(base), undefined);
    assert.equal(ed25519KeyProblem(encode(base)), undefined);
  });

  it('refuses every encoding of them: canonical, either sign bit, y + p', () => {
    const refused = new Set<string>();
    for (const hex of SMALL_ORDER_POINTS) {
      const canonical = Buffer.from(hex, 'hex');
      const flipped = Buffer.from(canonical);
      flipped[31] ^= 0x80;
      assert.equal(ed25519KeyProblem(canonical), 'small_order', hex);
      assert.equal(ed25519KeyProblem(flipped), 'small_order', `${hex} with the sign bit flipped`);
      refused.add(canonical.toString('hex')).add(flipped.toString('hex'));
      const y = decode(canonical)![1];
      if (y + P < 2n ** 255n) {
        for (const sign of [0, 1] as const) {
          assert.equal(ed25519KeyProblem(rawEncoding(y + P, sign)), 'small_order', `y + p for ${hex}`);
          refused.add(rawEncoding(y + P, sign).toString('hex'));
        }
      }
    }
    // The 8 canonical encodings (flipping the sign bit of a point with x ≠ 0 gives its negation,
    // also listed), the 2 with x = 0 and the sign bit set, and y = 0, 1 spelled y + p with either
    // sign bit: the other small-order y values are too close to p to have a second spelling.
    assert.equal(refused.size, 14);
  });

  it('refuses y ≥ p that is not small-order as non-canonical, and a y with no x as off the curve', () => {
    for (let k = 2n; k <= 18n; k++) assert.equal(ed25519KeyProblem(rawEncoding(P + k, 0)), 'non_canonical', `y = p + ${k}`);
    let off = 0;
    for (let y = 2n; y < 200n; y++) {
      for (const sign of [0, 1] as const) {
        const expected = decode(rawEncoding(y, sign)) === undefined ? 'not_on_curve' : undefined;
        if (expected !== undefined) off++;
        assert.equal(ed25519KeyProblem(rawEncoding(y, sign)), expected, `y = ${y}, sign ${sign}`);
      }
    }
    assert.ok(off > 100 && off < 300, `about half of the y values have no x (${off} of 396)`);
  });

  it('refuses the wrong length and accepts keys from real key pairs', () => {
    assert.equal(ed25519KeyProblem(Buffer.alloc(31, 9)), 'wrong_length');
    assert.equal(ed25519KeyProblem(Buffer.alloc(33, 9)), 'wrong_length');
    for (let i = 0; i < 32; i++) {
      const x = Buffer.from(nodeKeyPair('ed25519').publicKey.export({ format: 'jwk' }).x!, 'base64url');
      assert.equal(ed25519KeyProblem(x), undefined, x.toString('hex'));
    }
  });
});
