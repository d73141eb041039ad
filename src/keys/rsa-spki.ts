/**
 * A strict reader for exactly one shape of DER: an RSA SubjectPublicKeyInfo
 * (RFC 8017 A.1.1 inside RFC 5280 §4.1.2.7). Peer keys arrive in every
 * hello, and OpenSSL 3's generic DER decoder and encoder cost about 250 µs
 * per key here — as much as the RSA decryption itself — where this reader
 * and a JWK import cost a few. Being strict DER (definite minimal lengths,
 * minimal positive integers, nothing left over) it accepts each key in one
 * byte string only, so fingerprints and transcripts agree.
 */

import { ErrorCode, NetcryptError } from '../errors.ts';

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
/** AlgorithmIdentifier { rsaEncryption, NULL }, whole. */
const RSA_ENCRYPTION = Buffer.from('300d06092a864886f70d0101010500', 'hex');

export interface RsaPublicNumbers {
  /** The modulus, big-endian, without a sign byte. */
  n: Buffer;
  /** The public exponent, big-endian, without a sign byte. */
  e: Buffer;
}

function malformed(reason: string): NetcryptError {
  return new NetcryptError(ErrorCode.BAD_KEY, `peer public key is not a DER RSA SubjectPublicKeyInfo: ${reason}`);
}

class DerReader {
  #offset = 0;
  constructor(private readonly bytes: Buffer) {}

  /** The content of the next element, which must have `tag`. */
  element(tag: number): Buffer {
    if (this.bytes[this.#offset] !== tag) throw malformed(`expected tag 0x${tag.toString(16)}`);
    this.#offset++;
    const length = this.#length();
    if (length > this.bytes.length - this.#offset) throw malformed('an element runs past the end');
    const content = this.bytes.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return content;
  }

  end(): void {
    if (this.#offset !== this.bytes.length) throw malformed('trailing bytes');
  }

  /** DER lengths: short form below 128, else the fewest long-form bytes (keys here need at most two). */
  #length(): number {
    const first = this.bytes[this.#offset++];
    if (first === undefined) throw malformed('truncated length');
    if (first < 0x80) return first;
    if (first === 0x81) {
      const length = this.bytes[this.#offset++];
      if (length === undefined || length < 0x80) throw malformed('non-minimal length');
      return length;
    }
    if (first === 0x82) {
      if (this.#offset + 2 > this.bytes.length) throw malformed('truncated length');
      const length = this.bytes.readUInt16BE(this.#offset);
      this.#offset += 2;
      if (length < 0x100) throw malformed('non-minimal length');
      return length;
    }
    throw malformed('unsupported length form');
  }
}

/** A positive INTEGER's magnitude; DER allows a leading zero byte only where the next byte has its top bit set. */
function positiveInteger(content: Buffer): Buffer {
  if (content.length === 0) throw malformed('empty integer');
  if (content[0]! >= 0x80) throw malformed('negative integer');
  if (content[0] === 0x00) {
    if (content.length === 1 || content[1]! < 0x80) throw malformed('non-minimal integer');
    return content.subarray(1);
  }
  return content;
}

export function parseRsaSpki(der: Buffer): RsaPublicNumbers {
  const outer = new DerReader(der);
  const spki = new DerReader(outer.element(SEQUENCE));
  outer.end();
  if (!spki.element(SEQUENCE).equals(RSA_ENCRYPTION.subarray(2))) throw malformed('not rsaEncryption with NULL parameters');
  const bits = spki.element(BIT_STRING);
  spki.end();
  if (bits[0] !== 0x00) throw malformed('bit string with unused bits');
  const wrapper = new DerReader(bits.subarray(1));
  const numbers = new DerReader(wrapper.element(SEQUENCE));
  wrapper.end();
  const n = positiveInteger(numbers.element(INTEGER));
  const e = positiveInteger(numbers.element(INTEGER));
  numbers.end();
  return { n, e };
}
