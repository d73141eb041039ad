/**
 * Strict MessagePack for fixed schemas: a cursor that reads exactly what the
 * caller's schema asks for, and a writer that produces the one byte form the
 * reader accepts. The reader checks every header against the schema and
 * against the bytes left before it builds anything, so a decoder's work and
 * memory are bounded by its input and its schema — never by what a peer
 * declares.
 *
 * The canonical form, the only one accepted (so each value has one encoding):
 * - integers: a value ≥ 0 as positive fixint (0–127), else uint 8/16/32/64
 *   (0xcc–0xcf), the shortest that holds it; a value < 0 as negative fixint
 *   (−32…−1), else int 8/16/32/64 (0xd0–0xd3), the shortest that holds it.
 *   Only safe integers (|n| < 2^53) exist; there are no floats, nil or booleans.
 * - str (strict UTF-8: invalid, overlong and surrogate sequences are refused,
 *   a BOM is kept as text), bin, array and map: the shortest header for the
 *   length — fixstr/str8/16/32, bin8/16/32, fixarray/array16/32, fixmap/map16/32.
 * - maps: string keys, exactly the schema's keys in the schema's order, so
 *   none is missing, unknown or repeated.
 * - one value per input: trailing bytes are refused.
 *
 * The error is the caller's: `fail(reason)` makes the NetcryptError to throw.
 */

import type { NetcryptError } from '../errors.ts';

export type Fail = (reason: string) => NetcryptError;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/** Reads one schema-shaped value from `bytes`; every method throws `fail(...)` on anything else. */
export class StrictReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #fail: Fail;
  #pos = 0;

  constructor(bytes: Uint8Array, fail: Fail) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#fail = fail;
  }

  get remaining(): number {
    return this.#bytes.length - this.#pos;
  }

  /** A map header with `min`..`max` entries (default: exactly `min`); returns the count. */
  map(min: number, max = min): number {
    return this.#count(0x80, 0xde, 'map', min, max, 2);
  }

  /** An array of at most `max` elements, each at least `minElementBytes` long, each read by `element`. */
  array<T>(max: number, minElementBytes: number, element: (reader: this) => T): T[] {
    const count = this.arrayHeader(max, minElementBytes);
    const elements: T[] = [];
    for (let i = 0; i < count; i++) elements.push(element(this));
    return elements;
  }

  /** An array header for the caller to read the elements itself; returns the count. */
  arrayHeader(max: number, minElementBytes: number): number {
    return this.#count(0x90, 0xdc, 'array', 0, max, minElementBytes);
  }

  /** The map key `name` (ASCII, under 32 bytes), compared byte for byte. */
  key(name: string): void {
    const start = this.#pos;
    const header = this.#byte();
    if (header !== (0xa0 | name.length) || this.remaining < name.length) throw this.#fail(`expected the key "${name}"`);
    for (let i = 0; i < name.length; i++) {
      if (this.#bytes[start + 1 + i] !== name.charCodeAt(i)) throw this.#fail(`expected the key "${name}"`);
    }
    this.#pos += name.length;
  }

  /** An integer in `min`..`max` (safe integers; negative only if `min` < 0). */
  int(min: number, max: number): number {
    const type = this.#byte();
    let value: number;
    let least: number; // the smallest magnitude this header may carry, so shorter forms are refused
    if (type <= 0x7f) [value, least] = [type, 0];
    else if (type >= 0xe0) [value, least] = [type - 0x100, 0];
    else if (type === 0xcc) [value, least] = [this.#view.getUint8(this.#take(1)), 0x80];
    else if (type === 0xcd) [value, least] = [this.#view.getUint16(this.#take(2)), 0x100];
    else if (type === 0xce) [value, least] = [this.#view.getUint32(this.#take(4)), 0x1_0000];
    else if (type === 0xcf) [value, least] = [this.#uint64(), 0x1_0000_0000];
    else if (type === 0xd0) [value, least] = [this.#view.getInt8(this.#take(1)), 33];
    else if (type === 0xd1) [value, least] = [this.#view.getInt16(this.#take(2)), 0x81];
    else if (type === 0xd2) [value, least] = [this.#view.getInt32(this.#take(4)), 0x8001];
    else if (type === 0xd3) [value, least] = [this.#int64(), 0x8000_0001];
    else throw this.#fail('expected an integer');
    // Signed headers carry only negative values; every header only values its shorter neighbours cannot.
    if ((type >= 0xd0 && type <= 0xd3 && value >= 0) || Math.abs(value) < least) throw this.#fail('integer not in its shortest form');
    if (value < min || value > max) throw this.#fail(`integer ${value} outside ${min}..${max}`);
    return value;
  }

  /** A bin of `min`..`max` bytes, as a view into the input (no copy). */
  bin(min: number, max: number): Uint8Array {
    const type = this.#byte();
    let length: number;
    if (type === 0xc4) length = this.#length(1, 0);
    else if (type === 0xc5) length = this.#length(2, 0x100);
    else if (type === 0xc6) length = this.#length(4, 0x1_0000);
    else throw this.#fail('expected bin');
    return this.#slice(length, min, max, 'bin');
  }

  /** A str of `minBytes`..`maxBytes` UTF-8 bytes, decoded strictly. */
  str(minBytes: number, maxBytes: number): string {
    const type = this.#byte();
    let length: number;
    if ((type & 0xe0) === 0xa0) length = type & 0x1f;
    else if (type === 0xd9) length = this.#length(1, 32);
    else if (type === 0xda) length = this.#length(2, 0x100);
    else if (type === 0xdb) length = this.#length(4, 0x1_0000);
    else throw this.#fail('expected str');
    const bytes = this.#slice(length, minBytes, maxBytes, 'str');
    try {
      return utf8.decode(bytes);
    } catch {
      throw this.#fail('str is not valid UTF-8');
    }
  }

  /** The input must end here. */
  end(): void {
    if (this.remaining !== 0) throw this.#fail(`${this.remaining} bytes after the message`);
  }

  /** A fix/16/32 container header; the count is checked against the schema and against the bytes left. */
  #count(fix: number, wide16: number, what: string, min: number, max: number, minElementBytes: number): number {
    const type = this.#byte();
    let count: number;
    if ((type & 0xf0) === fix) count = type & 0x0f;
    else if (type === wide16) count = this.#length(2, 16);
    else if (type === wide16 + 1) count = this.#length(4, 0x1_0000);
    else throw this.#fail(`expected ${what}`);
    if (count < min || count > max) throw this.#fail(`${what} of ${count} entries; expected ${min === max ? min : `${min}..${max}`}`);
    if (count * minElementBytes > this.remaining) throw this.#fail(`${what} of ${count} entries longer than the input`);
    return count;
  }

  /** A big-endian length of `width` bytes that must be ≥ `least` (else a shorter header was due). */
  #length(width: 1 | 2 | 4, least: number): number {
    const at = this.#take(width);
    const length = width === 1 ? this.#view.getUint8(at) : width === 2 ? this.#view.getUint16(at) : this.#view.getUint32(at);
    if (length < least) throw this.#fail('length not in its shortest form');
    return length;
  }

  #slice(length: number, min: number, max: number, what: string): Uint8Array {
    if (length < min || length > max) throw this.#fail(`${what} of ${length} bytes; expected ${min === max ? min : `${min}..${max}`}`);
    if (length > this.remaining) throw this.#fail(`${what} longer than the input`);
    const bytes = this.#bytes.subarray(this.#pos, this.#pos + length);
    this.#pos += length;
    return bytes;
  }

  #uint64(): number {
    const at = this.#take(8);
    const high = this.#view.getUint32(at);
    if (high > 0x1f_ffff) throw this.#fail('integer beyond 2^53');
    return high * 0x1_0000_0000 + this.#view.getUint32(at + 4);
  }

  #int64(): number {
    const at = this.#take(8);
    const high = this.#view.getInt32(at);
    const low = this.#view.getUint32(at + 4);
    if (high < -0x20_0000 || (high === -0x20_0000 && low === 0)) throw this.#fail('integer beyond -2^53');
    return high * 0x1_0000_0000 + low;
  }

  #byte(): number {
    if (this.#pos >= this.#bytes.length) throw this.#fail('truncated');
    return this.#bytes[this.#pos++]!;
  }

  /** Skips the next `n` bytes and returns where they start. */
  #take(n: number): number {
    if (n > this.remaining) throw this.#fail('truncated');
    this.#pos += n;
    return this.#pos - n;
  }
}

/** Writes the canonical form described above; the caller supplies values in schema order. */
export class StrictWriter {
  #bytes: Uint8Array;
  #view: DataView;
  #length = 0;

  /** `expectedBytes`: the output's likely size, so that a large one is not copied as it grows. */
  constructor(expectedBytes = 256) {
    this.#bytes = new Uint8Array(expectedBytes);
    this.#view = new DataView(this.#bytes.buffer);
  }

  map(count: number): this {
    return this.#header(count, 0x80, 0xde);
  }

  array(count: number): this {
    return this.#header(count, 0x90, 0xdc);
  }

  key(name: string): this {
    return this.str(name);
  }

  /** A safe integer; anything else (a float, NaN, 2^53) is a programming error. */
  int(value: number): this {
    if (!Number.isSafeInteger(value)) throw new RangeError(`not a safe integer: ${value}`);
    if (value >= 0) {
      if (value <= 0x7f) return this.#byte(value);
      if (value <= 0xff) return this.#byte(0xcc).#byte(value);
      if (value <= 0xffff) return this.#byte(0xcd).#uint(2, value);
      if (value <= 0xffff_ffff) return this.#byte(0xce).#uint(4, value);
      this.#byte(0xcf).#room(8).#view.setBigUint64(this.#length, BigInt(value));
    } else {
      if (value >= -32) return this.#byte(value + 0x100);
      if (value >= -0x80) return this.#byte(0xd0).#byte(value + 0x100);
      if (value >= -0x8000) return this.#byte(0xd1).#uint(2, value + 0x1_0000);
      if (value >= -0x8000_0000) return this.#byte(0xd2).#uint(4, value + 0x1_0000_0000);
      this.#byte(0xd3).#room(8).#view.setBigInt64(this.#length, BigInt(value));
    }
    this.#length += 8;
    return this;
  }

  bin(bytes: Uint8Array): this {
    const n = bytes.length;
    if (n <= 0xff) this.#byte(0xc4).#byte(n);
    else if (n <= 0xffff) this.#byte(0xc5).#uint(2, n);
    else this.#byte(0xc6).#uint(4, n);
    return this.#raw(bytes);
  }

  /** UTF-8 by the WHATWG encoder, so the output is always valid (a lone surrogate becomes U+FFFD). */
  str(text: string): this {
    const bytes = utf8Encoder.encode(text);
    const n = bytes.length;
    if (n <= 31) this.#byte(0xa0 | n);
    else if (n <= 0xff) this.#byte(0xd9).#byte(n);
    else if (n <= 0xffff) this.#byte(0xda).#uint(2, n);
    else this.#byte(0xdb).#uint(4, n);
    return this.#raw(bytes);
  }

  /** The bytes written (the buffer itself when it was sized exactly). */
  finish(): Uint8Array {
    return this.#length === this.#bytes.length ? this.#bytes : this.#bytes.slice(0, this.#length);
  }

  #header(count: number, fix: number, wide16: number): this {
    if (count <= 15) return this.#byte(fix | count);
    if (count <= 0xffff) return this.#byte(wide16).#uint(2, count);
    return this.#byte(wide16 + 1).#uint(4, count);
  }

  #byte(value: number): this {
    this.#room(1).#bytes[this.#length++] = value;
    return this;
  }

  #uint(width: 2 | 4, value: number): this {
    this.#room(width);
    if (width === 2) this.#view.setUint16(this.#length, value);
    else this.#view.setUint32(this.#length, value);
    this.#length += width;
    return this;
  }

  #raw(bytes: Uint8Array): this {
    this.#room(bytes.length).#bytes.set(bytes, this.#length);
    this.#length += bytes.length;
    return this;
  }

  #room(n: number): this {
    if (this.#length + n <= this.#bytes.length) return this;
    const grown = new Uint8Array(Math.max(this.#bytes.length * 2, this.#length + n));
    grown.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = grown;
    this.#view = new DataView(grown.buffer);
    return this;
  }
}
