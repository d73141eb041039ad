/** The strict MessagePack reader and writer: one byte form per value, the caller's error, nothing built from a declared length. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { StrictReader, StrictWriter } from '../src/codec/strict-msgpack.ts';
import { ErrorCode, NetcryptError, isNetcryptError } from '../src/errors.ts';

const fail = (reason: string) => new NetcryptError(ErrorCode.BAD_ENVELOPE, reason);
const isFail = (error: unknown) => isNetcryptError(error, ErrorCode.BAD_ENVELOPE);
const read = (bytes: number[] | Uint8Array) => new StrictReader(Uint8Array.from(bytes), fail);
const written = (write: (w: StrictWriter) => unknown) => {
  const w = new StrictWriter(1);
  write(w);
  return w.finish();
};

/** Reads one integer and requires the input to end there. */
function readInt(bytes: number[] | Uint8Array): number {
  const r = read(bytes);
  const value = r.int(-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  r.end();
  return value;
}

const BOUNDARIES = [0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER].flatMap((n) => [n, -n, n - 1, -n + 1]);
const anyInt = fc.oneof(fc.constantFrom(...BOUNDARIES), fc.maxSafeInteger()).map((n) => n + 0); // no −0

describe('strict MessagePack', () => {
  it('integers: the writer emits the shortest form (as @msgpack/msgpack does) and the reader takes it back', () => {
    fc.assert(
      fc.property(anyInt, (n) => {
        if (!Number.isSafeInteger(n)) return;
        const bytes = written((w) => w.int(n));
        assert.deepEqual(bytes, encode(n), String(n));
        assert.equal(readInt(bytes), n);
      }),
      { numRuns: 2000 },
    );
  });

  it('integers: every longer form of a value is refused', () => {
    fc.assert(
      fc.property(anyInt, (n) => {
        if (!Number.isSafeInteger(n)) return;
        const canonical = written((w) => w.int(n));
        const big = BigInt(n);
        const forms: [number, number, (v: DataView) => void][] = [
          [0xcc, 1, (v) => v.setUint8(0, n)],
          [0xcd, 2, (v) => v.setUint16(0, n)],
          [0xce, 4, (v) => v.setUint32(0, n)],
          [0xcf, 8, (v) => v.setBigUint64(0, big)],
          [0xd0, 1, (v) => v.setInt8(0, n)],
          [0xd1, 2, (v) => v.setInt16(0, n)],
          [0xd2, 4, (v) => v.setInt32(0, n)],
          [0xd3, 8, (v) => v.setBigInt64(0, big)],
        ];
        for (const [type, width, set] of forms) {
          const bytes = new Uint8Array(1 + width);
          bytes[0] = type;
          set(new DataView(bytes.buffer, 1));
          const view = new DataView(bytes.buffer, 1);
          const fits = readBack(type, view) === n;
          if (!fits || Buffer.compare(bytes, canonical) === 0) continue;
          assert.throws(() => readInt(bytes), isFail, `${n} as 0x${type.toString(16)}`);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('integers beyond ±(2^53 − 1), floats, nil and booleans are refused', () => {
    assert.throws(() => readInt([0xcf, 0x00, 0x20, 0, 0, 0, 0, 0, 0]), isFail); // 2^53
    assert.throws(() => readInt([0xd3, 0xff, 0xe0, 0, 0, 0, 0, 0, 0]), isFail); // −2^53
    assert.equal(readInt([0xd3, 0xff, 0xe0, 0, 0, 0, 0, 0, 1]), -Number.MAX_SAFE_INTEGER);
    for (const bytes of [[0xca, 0, 0, 0, 0], [0xcb, 0, 0, 0, 0, 0, 0, 0, 0], [0xc0], [0xc2], [0xc3]]) assert.throws(() => readInt(bytes), isFail);
    assert.throws(() => new StrictWriter().int(1.5), RangeError);
    assert.throws(() => new StrictWriter().int(2 ** 53), RangeError);
  });

  it('range checks are the schema’s', () => {
    assert.equal(read([0x05]).int(5, 5), 5);
    assert.throws(() => read([0x06]).int(0, 5), isFail);
    assert.throws(() => read([0xff]).int(0, 5), isFail); // −1
  });

  it('str, bin, array and map: the shortest header, written and required', () => {
    fc.assert(
      fc.property(fc.nat({ max: 70_000 }), (n) => {
        const text = 'x'.repeat(n);
        const bin = new Uint8Array(n);
        assert.deepEqual(written((w) => w.str(text)), encode(text));
        assert.deepEqual(written((w) => w.bin(bin)), encode(bin));
        assert.equal(read(written((w) => w.str(text))).str(0, n), text);
        assert.equal(read(written((w) => w.bin(bin))).bin(0, n).length, n);
        const arrayHead = written((w) => w.array(n));
        const mapHead = written((w) => w.map(n));
        assert.deepEqual(arrayHead, encode(new Array(n).fill(0)).subarray(0, arrayHead.length));
        assert.equal(mapHead[0]! ^ arrayHead[0]!, n <= 15 ? 0x10 : 0x02);
      }),
      { numRuns: 60 },
    );
    assert.throws(() => read([0xd9, 0x01, 0x61]).str(0, 10), isFail); // str8 for a fixstr
    assert.throws(() => read([0xda, 0x00, 0x01, 0x61]).str(0, 10), isFail);
    assert.throws(() => read([0xc5, 0x00, 0x01, 0x61]).bin(0, 10), isFail); // bin16 for bin8
    assert.throws(() => read([0xc6, 0x00, 0x00, 0x00, 0x01, 0x61]).bin(0, 10), isFail);
    assert.throws(() => read([0xdc, 0x00, 0x01, 0x00]).array(10, 1, (r) => r.int(0, 0)), isFail); // array16 for a fixarray
    assert.throws(() => read([0xde, 0x00, 0x01]).map(1), isFail);
    assert.throws(() => read([0xdf, 0x00, 0x00, 0x00, 0x01]).map(1), isFail);
  });

  it('strings are strict UTF-8: invalid, overlong and surrogate sequences are refused, a BOM is kept', () => {
    const str = (...bytes: number[]) => read([0xa0 | bytes.length, ...bytes]).str(0, 31);
    assert.equal(str(0x61, 0x62), 'ab');
    assert.equal(str(0xe2, 0x82, 0xac), '€');
    assert.equal(str(0xef, 0xbb, 0xbf, 0x61), '\uFEFFa');
    for (const bad of [[0x61, 0xff], [0xc1, 0xb8], [0xc0, 0x80], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0x80]]) {
      assert.throws(() => str(...bad), isFail, Buffer.from(bad).toString('hex'));
    }
    // The writer never produces what the reader refuses.
    assert.equal(read(written((w) => w.str('a\uD800b'))).str(0, 31), 'a\uFFFDb');
  });

  it('keys are compared byte for byte, in order', () => {
    read([0xa3, 0x6b, 0x65, 0x79]).key('key');
    for (const bad of [[0xa3, 0x6b, 0x65, 0x78], [0xa2, 0x6b, 0x65], [0xd9, 0x03, 0x6b, 0x65, 0x79], [0xa3, 0x6b, 0x65], [0xc4, 0x03, 0x6b, 0x65, 0x79]]) {
      assert.throws(() => read(bad).key('key'), isFail);
    }
  });

  it('a declared length or count is checked against the schema and the bytes left before anything is built', () => {
    let built = 0;
    const element = (r: StrictReader) => (built++, r.int(0, 0));
    assert.throws(() => read([0xdd, 0xff, 0xff, 0xff, 0xff, 0x00]).array(2 ** 32, 1, element), isFail);
    assert.throws(() => read([0xdc, 0x00, 0x11, ...new Uint8Array(17)]).array(16, 1, element), isFail);
    assert.throws(() => read([0x93, 0x00, 0x00, 0x00]).array(3, 2, element), isFail); // 3 elements of ≥ 2 bytes cannot fit in 3
    assert.equal(built, 0);
    assert.throws(() => read([0xc6, 0xff, 0xff, 0xff, 0xff]).bin(0, 2 ** 32), isFail);
    assert.throws(() => read([0xdb, 0xff, 0xff, 0xff, 0xff]).str(0, 2 ** 32), isFail);
    assert.throws(() => read([0xc4, 0x05, 1, 2, 3, 4, 5]).bin(0, 4), isFail);
    assert.throws(() => read([0xdf, 0xff, 0xff, 0xff, 0xff]).map(0, 2 ** 32), isFail);
  });

  it('trailing bytes and truncation are refused; every refusal is the caller’s error', () => {
    assert.throws(() => read([0x00, 0x00]).end(), isFail);
    read([]).end();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 12 }), (bytes) => {
        const r = read(bytes);
        try {
          r.map(0, 3);
          r.key('a');
          r.array(4, 1, () => r.str(0, 8));
          r.bin(0, 4);
          r.int(-100, 100);
          r.end();
        } catch (error) {
          assert.ok(isFail(error), String(error));
        }
      }),
      { numRuns: 5000 },
    );
  });
});

function readBack(type: number, view: DataView): number {
  switch (type) {
    case 0xcc:
      return view.getUint8(0);
    case 0xcd:
      return view.getUint16(0);
    case 0xce:
      return view.getUint32(0);
    case 0xcf:
      return Number(view.getBigUint64(0));
    case 0xd0:
      return view.getInt8(0);
    case 0xd1:
      return view.getInt16(0);
    case 0xd2:
      return view.getInt32(0);
    default:
      return Number(view.getBigInt64(0));
  }
}
