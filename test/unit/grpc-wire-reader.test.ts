import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { declaredFields, MAX_DEPTH, WireError, WireReader, WireType, type WireErrorCode } from '../../src/grpc/wire/reader.js';

const bytes = (...values: number[]): Buffer => Buffer.from(values);
const NONE = declaredFields({});

function throwsWire(fn: () => unknown, code: WireErrorCode): void {
  assert.throws(fn, (error: unknown) => error instanceof WireError && error.code === code, code);
}

describe('WireReader varints', () => {
  it('reads uint32 as the low 32 bits, 10-byte sign-extended negatives included', () => {
    assert.equal(new WireReader(bytes(0x00)).uint32(), 0);
    assert.equal(new WireReader(bytes(0xac, 0x02)).uint32(), 300);
    assert.equal(new WireReader(bytes(0xff, 0xff, 0xff, 0xff, 0x0f)).uint32(), 0xffffffff);
    const minusOne = new WireReader(bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01));
    assert.equal(minusOne.uint32(), 0xffffffff);
    assert.equal(minusOne.pos, 10);
    // 2^35 + 5: the bits above 32 are dropped, as protobuf does for uint32.
    assert.equal(new WireReader(bytes(0x85, 0x80, 0x80, 0x80, 0x80, 0x01)).uint32(), 5);
  });

  it('reads uint64 exactly up to 2^53 − 1 and refuses more', () => {
    const max = bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f);
    assert.equal(new WireReader(max).uint64(), Number.MAX_SAFE_INTEGER);
    throwsWire(() => new WireReader(bytes(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10)).uint64(), 'unsafe_integer');
    throwsWire(() => new WireReader(bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)).uint64(), 'unsafe_integer');
  });

  it('refuses a varint longer than 10 bytes and one cut short', () => {
    throwsWire(() => new WireReader(Buffer.alloc(11, 0x80)).uint32(), 'varint_too_long');
    throwsWire(() => new WireReader(Buffer.from([...Buffer.alloc(10, 0x80), 0x01])).uint64(), 'varint_too_long');
    throwsWire(() => new WireReader(bytes(0x80, 0x80)).uint32(), 'truncated');
    throwsWire(() => new WireReader(bytes()).uint32(), 'truncated');
    // skipped varints too
    throwsWire(() => new WireReader(Buffer.alloc(11, 0x80)).skip(0x08, NONE), 'varint_too_long');
    throwsWire(() => new WireReader(bytes(0x80, 0x80)).skip(0x08, NONE), 'truncated');
  });
});

describe('WireReader tags', () => {
  it('refuses field 0, groups and wire types 6 and 7', () => {
    throwsWire(() => new WireReader(bytes(0x00)).tag(), 'invalid_field_number');
    throwsWire(() => new WireReader(bytes(0x02, 0x00)).tag(), 'invalid_field_number');
    for (const type of [3, 4, 6, 7]) throwsWire(() => new WireReader(bytes((1 << 3) | type)).tag(), 'invalid_wire_type');
    for (const type of [0, 1, 2, 5]) assert.equal(new WireReader(bytes((1 << 3) | type)).tag(), 8 | type);
  });

  it('reads multi-byte tags up to 5 bytes', () => {
    assert.equal(new WireReader(bytes(0xfa, 0xff, 0xff, 0xff, 0x0f)).tag() >>> 3, 2 ** 29 - 1);
    throwsWire(() => new WireReader(bytes(0x8a, 0x80, 0x80, 0x80, 0x80, 0x00)).tag(), 'varint_too_long');
  });
});

describe('WireReader lengths and sub-messages', () => {
  it('refuses a length past the end of the buffer', () => {
    throwsWire(() => new WireReader(bytes(0x05, 0x61)).string(), 'length_overflow');
    throwsWire(() => new WireReader(bytes(0x05, 0x61)).bytes(), 'length_overflow');
    throwsWire(() => new WireReader(bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)).string(), 'length_overflow');
  });

  it('keeps every read inside the current sub-message', () => {
    // outer length 3 holds `0x0a 0x05 …`: the inner string claims 5 bytes but only 1 is left in the sub-message.
    const r = new WireReader(bytes(0x03, 0x0a, 0x05, 0x61, 0x62, 0x63, 0x64, 0x65));
    const outer = r.enter();
    assert.equal(r.tag(), 0x0a);
    throwsWire(() => r.string(), 'length_overflow');
    assert.equal(outer, 8);
  });

  it('refuses fixed-width values cut short', () => {
    throwsWire(() => new WireReader(bytes(1, 2, 3)).skip(0x0d, NONE), 'truncated');
    throwsWire(() => new WireReader(bytes(1, 2, 3, 4, 5, 6, 7)).skip(0x09, NONE), 'truncated');
    const r = new WireReader(bytes(1, 2, 3, 4, 5, 6, 7, 8));
    r.skip(0x09, NONE);
    assert.equal(r.pos, 8);
  });

  it('refuses a declared field arriving with another wire type, skips undeclared ones', () => {
    const declared = declaredFields({ 1: WireType.LEN, 2: WireType.VARINT });
    throwsWire(() => new WireReader(bytes(0x01)).skip(0x08 /* field 1, varint */, declared), 'wire_type_mismatch');
    throwsWire(() => new WireReader(bytes(0x01)).skip(0x12 /* field 2, LEN */, declared), 'wire_type_mismatch');
    for (const tag of [0x0a /* 1 LEN */, 0x10 /* 2 varint */, 0x18 /* 3 varint */, 0x1a /* 3 LEN */]) {
      const r = new WireReader(bytes(0x01, 0x00));
      r.skip(tag, declared);
      assert.equal(r.pos, tag & 2 ? 2 : 1);
    }
  });

  it(`stops at ${MAX_DEPTH} nested sub-messages`, () => {
    // Each level is `length, …`: 40 levels of one-byte lengths counting down.
    const depth = 40;
    const buf = Buffer.alloc(depth);
    for (let i = 0; i < depth; i++) buf[i] = depth - i - 1;
    const r = new WireReader(buf);
    for (let i = 0; i < MAX_DEPTH; i++) r.enter();
    throwsWire(() => r.enter(), 'too_deep');
  });
});

describe('WireReader strings and bytes', () => {
  it('decodes UTF-8 like Buffer#toString, invalid sequences as U+FFFD', () => {
    for (const raw of [[0x68, 0xc3, 0xa9], [0xff], [0xc3], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf0, 0x9f, 0x98], [0xf0, 0x9f, 0x98, 0x80], []]) {
      const buf = Buffer.from([raw.length, ...raw]);
      assert.equal(new WireReader(buf).string(), Buffer.from(raw).toString('utf8'), JSON.stringify(raw));
      assert.equal(new WireReader(buf).name(), Buffer.from(raw).toString('utf8'), JSON.stringify(raw));
    }
  });

  it('returns bytes as a view of the input, as protobufjs does', () => {
    const buf = bytes(0x02, 0xff, 0x00);
    const view = new WireReader(buf).bytes();
    assert.deepEqual([...view], [0xff, 0x00]);
    assert.ok(Buffer.isBuffer(view));
    assert.equal(view.buffer, buf.buffer);
  });

  it('hands out the same string object for a repeated name, and never a wrong one', () => {
    const encode = (text: string): Buffer => Buffer.concat([Buffer.from([Buffer.byteLength(text)]), Buffer.from(text)]);
    const first = new WireReader(encode('x-request-id')).name();
    const second = new WireReader(encode('x-request-id')).name();
    assert.equal(first, 'x-request-id');
    assert.equal(second, first);
    // Far more names than cache slots: collisions must only ever cost a miss.
    const names = Array.from({ length: 5000 }, (_, i) => `h-${(i * 7919).toString(36)}-${i % 13}`);
    for (let round = 0; round < 2; round++) for (const name of names) assert.equal(new WireReader(encode(name)).name(), name);
    assert.equal(new WireReader(encode('x-ümlaut')).name(), 'x-ümlaut');
  });
});
