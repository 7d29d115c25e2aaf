/**
 * Why bytes could not be read as protobuf. Stable codes, like every error in this project;
 * the message never echoes the bytes (they may hold credentials).
 */
export type WireErrorCode =
  /** A varint, length or fixed-width value runs past the end of its (sub-)message. */
  | 'truncated'
  /** A varint longer than 10 bytes (or a tag longer than 5). */
  | 'varint_too_long'
  /** Wire type 6 or 7, or a group (3, 4): proto3 has no groups and Envoy never sends them. */
  | 'invalid_wire_type'
  /** Field number 0. */
  | 'invalid_field_number'
  /** A field the message declares arrived with another wire type than its declaration. */
  | 'wire_type_mismatch'
  /** A length prefix larger than what is left of its (sub-)message. */
  | 'length_overflow'
  /** Sub-messages nested deeper than MAX_DEPTH. */
  | 'too_deep'
  /** A 64-bit varint above Number.MAX_SAFE_INTEGER where an exact number was asked for. */
  | 'unsafe_integer';

export class WireError extends Error {
  override readonly name = 'WireError';
  readonly code: WireErrorCode;
  /** Byte offset in the buffer where reading stopped. */
  readonly offset: number;

  constructor(code: WireErrorCode, offset: number) {
    super(`invalid protobuf: ${code.replace(/_/g, ' ')} at byte ${offset}`);
    this.code = code;
    this.offset = offset;
  }
}

export const WireType = { VARINT: 0, I64: 1, LEN: 2, SGROUP: 3, EGROUP: 4, I32: 5 } as const;

/** Expected wire type + 1 by field number (0: not declared); built by `declaredFields`. */
export type DeclaredFields = Uint8Array;

/** A message's declared fields, `{ fieldNumber: wireType }` (field numbers below 64). */
export function declaredFields(types: Readonly<Record<number, number>>): DeclaredFields {
  const table = new Uint8Array(64);
  for (const [field, type] of Object.entries(types)) table[Number(field)] = type + 1;
  return table;
}

/** Sub-message nesting the reader accepts; the CheckRequest subset goes 5 deep. */
export const MAX_DEPTH = 32;

/**
 * A bounds-checked cursor over one protobuf message. Every read is checked against
 * `limit`, the end of the (sub-)message being read — not the end of the buffer — so a field
 * can never spill into its parent, nothing is ever read out of bounds, and every loop
 * consumes at least one byte per turn. Strings are decoded like protobufjs's BufferReader
 * (Buffer's UTF-8 decoder: an invalid sequence becomes U+FFFD); bytes are views, not copies.
 */
export class WireReader {
  readonly buf: Buffer;
  pos = 0;
  /** End of the message being read. */
  limit: number;
  private depth = 0;

  constructor(buf: Buffer) {
    this.buf = buf;
    this.limit = buf.length;
  }

  /** True while the current (sub-)message has bytes left. */
  more(): boolean {
    return this.pos < this.limit;
  }

  /** The next field's key, `field << 3 | wireType`. Field 0, groups and wire types 6/7 are refused. */
  tag(): number {
    const pos = this.pos;
    let tag: number;
    if (pos < this.limit && this.buf[pos] < 0x80) {
      tag = this.buf[pos];
      this.pos = pos + 1;
    } else {
      tag = this.varint32(5);
    }
    if (tag < 8) throw new WireError('invalid_field_number', this.pos);
    const type = tag & 7;
    if (type === 3 || type === 4 || type > 5) throw new WireError('invalid_wire_type', this.pos);
    return tag;
  }

  /** A varint's low 32 bits, unsigned (protobuf uint32/int32/enum/bool; 10-byte negatives included). */
  uint32(): number {
    const pos = this.pos;
    if (pos < this.limit && this.buf[pos] < 0x80) {
      this.pos = pos + 1;
      return this.buf[pos];
    }
    return this.varint32(10);
  }

  bool(): boolean {
    return this.uint32() !== 0;
  }

  /** A varint as an exact number; WireError `unsafe_integer` above 2^53 − 1. */
  uint64(): number {
    const value = this.varintNumber();
    if (value > Number.MAX_SAFE_INTEGER) throw new WireError('unsafe_integer', this.pos);
    return value;
  }

  /** A length-delimited field as a string (UTF-8, invalid sequences → U+FFFD, like protobufjs). */
  string(): string {
    const end = this.lengthEnd();
    const start = this.pos;
    this.pos = end;
    return utf8(this.buf, start, end);
  }

  /**
   * A string likely to repeat across requests — a header name, a map key. Short ASCII ones
   * come from a small cache, so the same name is one string object each time: no native
   * call to create it, and V8 finds it already internalized when it becomes a property key
   * (that lookup was the largest single cost of decoding the header map). Names only, never
   * values: a hit is a little faster than a miss, and a value may be a secret.
   */
  name(): string {
    const end = this.lengthEnd();
    const start = this.pos;
    this.pos = end;
    return cachedName(this.buf, start, end);
  }

  /** A length-delimited field as a view into the buffer (protobufjs returns a view too). */
  bytes(): Buffer {
    const end = this.lengthEnd();
    const start = this.pos;
    this.pos = end;
    return this.buf.subarray(start, end);
  }

  /** Reads a sub-message's length and narrows `limit` to it; returns the outer limit for `leave`. */
  enter(): number {
    if (++this.depth > MAX_DEPTH) throw new WireError('too_deep', this.pos);
    const end = this.lengthEnd();
    const outer = this.limit;
    this.limit = end;
    return outer;
  }

  /** Back to the enclosing message after a sub-message has been read to its end. */
  leave(outer: number): void {
    // Unreachable by construction (every read stops at `limit`), kept as a guard.
    if (this.pos !== this.limit) throw new WireError('truncated', this.pos);
    this.depth--;
    this.limit = outer;
  }

  /**
   * Skips a field this decoder does not read, by its wire type. A field the message declares
   * (see `declaredFields`) must arrive with its declared wire type: protobufjs would read it
   * as the declared type anyway and make something up, so the two decoders could disagree.
   */
  skip(tag: number, declared: DeclaredFields): void {
    const field = tag >>> 3;
    if (field < declared.length && declared[field] !== 0 && declared[field] !== (tag & 7) + 1) throw new WireError('wire_type_mismatch', this.pos);
    switch (tag & 7) {
      case WireType.VARINT:
        this.skipVarint();
        return;
      case WireType.I64:
        this.advance(8);
        return;
      case WireType.LEN:
        this.pos = this.lengthEnd();
        return;
      case WireType.I32:
        this.advance(4);
        return;
      default:
        throw new WireError('invalid_wire_type', this.pos);
    }
  }

  /** Reads a length prefix; returns where the value ends (checked against `limit`). */
  private lengthEnd(): number {
    const pos = this.pos;
    let length: number;
    if (pos < this.limit && this.buf[pos] < 0x80) {
      length = this.buf[pos];
      this.pos = pos + 1;
    } else {
      length = this.varintNumber();
    }
    if (length > this.limit - this.pos) throw new WireError('length_overflow', this.pos);
    return this.pos + length;
  }

  private advance(count: number): void {
    if (count > this.limit - this.pos) throw new WireError('truncated', this.limit);
    this.pos += count;
  }

  private skipVarint(): void {
    const buf = this.buf;
    const stop = Math.min(this.limit, this.pos + 10);
    for (let pos = this.pos; pos < stop; pos++) {
      if (buf[pos] < 0x80) {
        this.pos = pos + 1;
        return;
      }
    }
    throw new WireError(stop === this.limit && stop - this.pos < 10 ? 'truncated' : 'varint_too_long', stop);
  }

  /** Low 32 bits of a varint of at most `maxBytes` bytes. */
  private varint32(maxBytes: number): number {
    const buf = this.buf;
    let pos = this.pos;
    let value = 0;
    for (let i = 0; i < maxBytes; i++) {
      if (pos >= this.limit) throw new WireError('truncated', pos);
      const b = buf[pos++];
      if (i < 4) value |= (b & 0x7f) << (7 * i);
      else if (i === 4) value |= (b & 0x0f) << 28;
      if (b < 0x80) {
        this.pos = pos;
        return value >>> 0;
      }
    }
    throw new WireError('varint_too_long', pos);
  }

  /** A varint of at most 10 bytes as a number (exact up to 2^53). */
  private varintNumber(): number {
    const buf = this.buf;
    let pos = this.pos;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= this.limit) throw new WireError('truncated', pos);
      const b = buf[pos++];
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        this.pos = pos;
        return value;
      }
      scale *= 128;
    }
    throw new WireError('varint_too_long', pos);
  }
}

// Buffer's own UTF-8 decoder is what protobufjs uses for a Buffer (BufferReader#string →
// utf8Slice), so the strings are identical, invalid sequences included. `utf8Slice` is the
// undocumented method behind `toString('utf8', …)` minus its argument checks (bounds are
// checked here already); protobufjs relies on it the same way, with the same fallback.
interface NodeBuffer {
  utf8Slice(start: number, end: number): string;
}
const utf8: (buf: Buffer, start: number, end: number) => string =
  typeof (Buffer.prototype as unknown as Partial<NodeBuffer>).utf8Slice === 'function'
    ? (buf, start, end) => (start === end ? '' : (buf as unknown as NodeBuffer).utf8Slice(start, end))
    : (buf, start, end) => buf.toString('utf8', start, end);

const NAME_CACHE_BITS = 10;
const MAX_CACHED_NAME = 64;
const names: string[] = new Array<string>(1 << NAME_CACHE_BITS).fill('');

/**
 * Direct-mapped on the length and three of the bytes (cheap, and enough to tell common header
 * names apart); a slot holds the last name that landed there and a hit is checked byte by byte.
 */
function cachedName(buf: Buffer, start: number, end: number): string {
  const length = end - start;
  if (length === 0 || length > MAX_CACHED_NAME) return utf8(buf, start, end);
  const hash =
    Math.imul(length, 0x9e3779b1) ^ Math.imul(buf[start], 0x85ebca6b) ^ Math.imul(buf[start + (length >> 1)], 0xc2b2ae35) ^ Math.imul(buf[end - 1], 0x27d4eb2f);
  const slot = hash >>> (32 - NAME_CACHE_BITS);
  const cached = names[slot];
  if (cached.length === length) {
    let i = 0;
    while (i < length && cached.charCodeAt(i) === buf[start + i]) i++;
    if (i === length) return cached;
  }
  const fresh = utf8(buf, start, end);
  // Only ASCII is cached, so that a cached string's UTF-16 units are exactly its bytes.
  for (let i = start; i < end; i++) if (buf[i] >= 0x80) return fresh;
  names[slot] = fresh;
  return fresh;
}
