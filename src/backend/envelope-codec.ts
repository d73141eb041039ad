/**
 * The netcrypt/1 envelope in JavaScript, shared by the native and pure
 * backends (the wasm backend has its own in Rust). Only the canonical
 * encoding is accepted, so every backend accepts exactly the same bytes.
 */

import { Decoder, Encoder } from '@msgpack/msgpack';
import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';
import { BLOCK_BYTES, ENVELOPE_MAX_WRAPPED_KEY, ENVELOPE_VERSION, type Envelope, IV_BYTES, TAG_BYTES } from './types.ts';

const FIELD_ORDER = ['v', 'key', 'iv', 'ct', 'tag'] as const;

function binHeaderLength(length: number): number {
  return length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
}

/** The size of the canonical encoding; every non-canonical encoding of the same fields is longer. */
export function envelopeLength(wrappedKeyLength: number, ciphertextLength: number): number {
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
    tag instanceof Uint8Array && tag.length === TAG_BYTES
  );
}

export function encodeEnvelope(envelope: Envelope): Uint8Array {
  if (!checkEnvelopeFields(envelope)) throw invalidArgument('envelope fields have invalid types or lengths');
  const size = envelopeLength(envelope.wrappedKey.length, envelope.ciphertext.length);
  const encoder = new Encoder({ initialBufferSize: size });
  return encoder.encode({
    v: ENVELOPE_VERSION,
    key: envelope.wrappedKey,
    iv: envelope.iv,
    ct: envelope.ciphertext,
    tag: envelope.tag,
  });
}

function badEnvelope(reason: string, cause?: unknown): NetcryptError {
  return new NetcryptError(ErrorCode.BAD_ENVELOPE, `malformed envelope: ${reason}`, { cause });
}

export function decodeEnvelope(bytes: Uint8Array): Envelope {
  if (!(bytes instanceof Uint8Array)) throw invalidArgument('envelope must be a Uint8Array');
  // No declared length may exceed what the input itself could hold.
  const limit = bytes.length;
  const decoder = new Decoder({
    maxStrLength: limit,
    maxBinLength: limit,
    maxArrayLength: limit,
    maxMapLength: limit,
    maxExtLength: limit,
  });
  let value: unknown;
  try {
    value = decoder.decode(bytes);
  } catch (error) {
    throw badEnvelope('not MessagePack', error);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw badEnvelope('not a map');
  }
  const keys = Object.keys(value);
  if (keys.length !== FIELD_ORDER.length || keys.some((k, i) => k !== FIELD_ORDER[i])) {
    throw badEnvelope('unexpected fields');
  }
  const fields = value as Record<(typeof FIELD_ORDER)[number], unknown>;
  if (fields.v !== ENVELOPE_VERSION) throw badEnvelope('unsupported version');
  const envelope = { wrappedKey: fields.key, iv: fields.iv, ciphertext: fields.ct, tag: fields.tag } as Envelope;
  if (!checkEnvelopeFields(envelope)) throw badEnvelope('field types or lengths');
  // Duplicate keys, wider integer or length formats: all make the input longer than canonical.
  if (bytes.length !== envelopeLength(envelope.wrappedKey.length, envelope.ciphertext.length)) {
    throw badEnvelope('not in canonical form');
  }
  return envelope;
}
