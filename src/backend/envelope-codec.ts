/**
 * The netcrypt/1 envelope in JavaScript, shared by the native and pure
 * backends (the wasm backend has its own in Rust, crate/src/envelope.rs).
 * Only the canonical encoding is accepted — the strict MessagePack of
 * src/codec/strict-msgpack.ts, keys in the order v, key, iv, ct, tag — so
 * every backend accepts exactly the same bytes.
 */

import { StrictReader, StrictWriter } from '../codec/strict-msgpack.ts';
import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';
import { BLOCK_BYTES, ENVELOPE_MAX_WRAPPED_KEY, ENVELOPE_VERSION, type Envelope, IV_BYTES, TAG_BYTES } from './types.ts';

function binHeaderLength(length: number): number {
  return length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
}

/** The size of the canonical encoding. */
function envelopeLength(wrappedKeyLength: number, ciphertextLength: number): number {
  return (
    1 + // fixmap(5)
    2 + 1 + // "v" 1
    4 + binHeaderLength(wrappedKeyLength) + wrappedKeyLength +
    3 + 2 + IV_BYTES +
    3 + binHeaderLength(ciphertextLength) + ciphertextLength +
    4 + 2 + TAG_BYTES
  );
}

export function checkEnvelopeFields(envelope: Envelope): boolean {
  const { wrappedKey, iv, ciphertext, tag } = envelope;
  return (
    wrappedKey instanceof Uint8Array && wrappedKey.length >= 1 && wrappedKey.length <= ENVELOPE_MAX_WRAPPED_KEY &&
    iv instanceof Uint8Array && iv.length === IV_BYTES &&
    ciphertext instanceof Uint8Array && ciphertext.length >= BLOCK_BYTES && ciphertext.length % BLOCK_BYTES === 0 &&
    ciphertext.length <= 0xffff_ffff &&
    tag instanceof Uint8Array && tag.length === TAG_BYTES
  );
}

export function encodeEnvelope(envelope: Envelope): Uint8Array {
  if (!checkEnvelopeFields(envelope)) throw invalidArgument('envelope fields have invalid types or lengths');
  return new StrictWriter(envelopeLength(envelope.wrappedKey.length, envelope.ciphertext.length))
    .map(5)
    .key('v').int(ENVELOPE_VERSION)
    .key('key').bin(envelope.wrappedKey)
    .key('iv').bin(envelope.iv)
    .key('ct').bin(envelope.ciphertext)
    .key('tag').bin(envelope.tag)
    .finish();
}

function badEnvelope(reason: string): NetcryptError {
  return new NetcryptError(ErrorCode.BAD_ENVELOPE, `malformed envelope: ${reason}`);
}

export function decodeEnvelope(bytes: Uint8Array): Envelope {
  if (!(bytes instanceof Uint8Array)) throw invalidArgument('envelope must be a Uint8Array');
  const r = new StrictReader(bytes, badEnvelope);
  r.map(5);
  r.key('v');
  r.int(ENVELOPE_VERSION, ENVELOPE_VERSION);
  r.key('key');
  const wrappedKey = r.bin(1, ENVELOPE_MAX_WRAPPED_KEY);
  r.key('iv');
  const iv = r.bin(IV_BYTES, IV_BYTES);
  r.key('ct');
  const ciphertext = r.bin(BLOCK_BYTES, 0xffff_ffff);
  if (ciphertext.length % BLOCK_BYTES !== 0) throw badEnvelope('ciphertext is not a whole number of blocks');
  r.key('tag');
  const tag = r.bin(TAG_BYTES, TAG_BYTES);
  r.end();
  return { wrappedKey, iv, ciphertext, tag };
}
