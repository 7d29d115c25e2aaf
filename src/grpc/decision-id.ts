import { randomFillSync } from 'node:crypto';

/**
 * A random (version 4) UUID for each decision, as `crypto.randomUUID` makes, built with one
 * string allocation: hex digits written into a scratch buffer and read out once. randomUUID
 * assembles its string from pieces, about 600 bytes of garbage per call on the Check path.
 * Entropy comes from the same CSPRNG, drawn 4 KiB at a time.
 */
const POOL = Buffer.allocUnsafe(16 * 256);
let next = POOL.length;
const OUT = Buffer.allocUnsafe(36);
const HEX = Buffer.from('0123456789abcdef', 'latin1');

export function decisionId(): string {
  if (next === POOL.length) {
    randomFillSync(POOL);
    next = 0;
  }
  const at = next;
  next += 16;
  POOL[at + 6] = (POOL[at + 6] & 0x0f) | 0x40; // version 4
  POOL[at + 8] = (POOL[at + 8] & 0x3f) | 0x80; // variant 10xx
  let j = 0;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) OUT[j++] = 0x2d; // "-"
    const byte = POOL[at + i];
    OUT[j++] = HEX[byte >> 4]!;
    OUT[j++] = HEX[byte & 0x0f]!;
  }
  return OUT.toString('latin1', 0, 36);
}
