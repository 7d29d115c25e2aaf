/**
 * A protobuf writer for small messages. A message is written into a scratch buffer the
 * writer keeps, then copied out into a buffer of its exact size from Node's pool: the copy of
 * a few hundred bytes costs less than what handing out views of a shared slab did (a slab
 * stays allocated, outside the JS heap, until the last message cut from it is collected,
 * which under load grew the process's malloc heap by tens of MiB). Length prefixes are
 * back-patched when a sub-message ends (one byte reserved; the body is moved right in the
 * rare case it needs more), so lengths and varints come out minimal, as protobufjs writes them.
 */
let idle: WireWriter | null = null;

/**
 * `m` written by `write` into a pooled writer and copied out. Borrowed, so that a re-entrant
 * call (a value's toString calling back) gets its own writer.
 */
export function encodeMessage<T>(m: T, write: (w: WireWriter, m: T) => void): Buffer {
  const w = idle ?? new WireWriter();
  idle = null;
  try {
    w.reset();
    write(w, m);
    return w.finish();
  } finally {
    idle = w;
  }
}

export class WireWriter {
  private buf: Buffer = EMPTY;
  private pos = 0;

  /** Starts a new message (dropping anything written since the last `finish`). */
  reset(): void {
    // A scratch buffer grown for a large message is not kept.
    if (this.buf.length !== SCRATCH_BYTES) this.buf = Buffer.allocUnsafeSlow(SCRATCH_BYTES);
    this.pos = 0;
  }

  /** A copy of the message written since `reset`: the writer never touches it again. */
  finish(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    return out;
  }

  /** A single-byte key (field numbers 1–15). */
  tag(key: number): void {
    this.ensure(1);
    this.buf[this.pos++] = key;
  }

  /** 0 ≤ value < 2^32. */
  uint32(value: number): void {
    this.ensure(5);
    const buf = this.buf;
    let pos = this.pos;
    while (value > 0x7f) {
      buf[pos++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    buf[pos++] = value;
    this.pos = pos;
  }

  /** int32 and enums: a negative value is sign-extended to 10 bytes, as the protobuf spec (and protobufjs) do. */
  int32(value: number): void {
    if (value >= 0) {
      this.uint32(value);
      return;
    }
    this.ensure(10);
    let lo = value >>> 0;
    for (let i = 0; i < 4; i++) {
      this.buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo >>>= 7;
    }
    // Byte 5 carries the top 4 bits of the low word and 3 of the all-ones high word.
    this.buf[this.pos++] = lo | 0x70 | 0x80;
    for (let i = 0; i < 4; i++) this.buf[this.pos++] = 0xff;
    this.buf[this.pos++] = 0x01;
  }

  bool(value: boolean): void {
    this.ensure(1);
    this.buf[this.pos++] = value ? 1 : 0;
  }

  double(value: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  /** A length-prefixed UTF-8 string; lone surrogates become U+FFFD, so the bytes are always valid UTF-8. */
  string(value: string): void {
    const n = value.length;
    // ≤ 42 UTF-16 units are ≤ 126 UTF-8 bytes: the length fits one byte, written after the text.
    if (n <= 42) {
      this.ensure(1 + 3 * n);
      const buf = this.buf;
      const start = this.pos;
      let pos = start + 1;
      for (let i = 0; i < n; i++) {
        const c = value.charCodeAt(i);
        if (c >= 0x80) {
          pos = start + 1 + buf.write(value, start + 1, 'utf8');
          break;
        }
        buf[pos++] = c;
      }
      buf[start] = pos - start - 1;
      this.pos = pos;
      return;
    }
    const length = Buffer.byteLength(value, 'utf8');
    this.uint32(length);
    this.ensure(length);
    this.pos += this.buf.write(value, this.pos, 'utf8');
  }

  bytes(value: Uint8Array): void {
    this.uint32(value.length);
    this.ensure(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
  }

  /** Opens a length-delimited sub-message (after its tag); pass the result to `end`. */
  begin(): number {
    this.ensure(1);
    return this.pos++;
  }

  end(mark: number): void {
    const start = mark;
    const length = this.pos - start - 1;
    if (length < 0x80) {
      this.buf[start] = length;
      return;
    }
    const extra = varintSize(length) - 1;
    this.ensure(extra);
    this.buf.copyWithin(start + 1 + extra, start + 1, this.pos);
    this.pos += extra;
    let pos = start;
    let value = length;
    while (value > 0x7f) {
      this.buf[pos++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    this.buf[pos] = value;
  }

  private ensure(count: number): void {
    if (this.pos + count > this.buf.length) this.grow(count);
  }

  /** The message outgrew the scratch buffer: moves it to one at least twice as large. */
  private grow(count: number): void {
    let size = this.buf.length * 2;
    while (size < this.pos + count) size *= 2;
    const larger = Buffer.allocUnsafeSlow(size);
    this.buf.copy(larger, 0, 0, this.pos);
    this.buf = larger;
  }
}

/** Most responses are < 1 KiB; a deny with every header Envoy allows fits too. */
const SCRATCH_BYTES = 16 * 1024;
const EMPTY = Buffer.alloc(0);

function varintSize(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
}
