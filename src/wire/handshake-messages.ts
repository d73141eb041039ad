/**
 * The two handshake messages of netcrypt/1, as MessagePack maps with a
 * fixed schema. Decoding is strict: unknown or missing fields, wrong types
 * and wrong lengths are errors. The protocol name and version are checked
 * before anything else so a peer on another version gets ERR_VERSION, not
 * a schema complaint.
 */

import { Decoder, encode } from '@msgpack/msgpack';
import { ErrorCode, NetcryptError } from '../errors.ts';

export const PROTOCOL_NAME = 'netcrypt';
export const PROTOCOL_VERSION = 1;
/** What this implementation speaks; a peer must offer every required feature. */
export const FEATURES = ['a256cbc-hs512', 'x25519', 'rsa-oaep-sha256', 'lanes'] as const;
/** The largest handshake frame either side accepts (an RSA-4096 hello is about 640 bytes). */
export const MAX_HANDSHAKE_FRAME = 4096;

export type Role = 'client' | 'server';

export interface Hello {
  role: Role;
  features: string[];
  /** The long-term RSA public key, SPKI DER. */
  rsa: Uint8Array;
  /** The ephemeral X25519 public key, 32 bytes. */
  x25519: Uint8Array;
  nonce: Uint8Array;
}

export interface KeyMessage {
  /** A fresh 32-byte secret, RSA-OAEP-wrapped to the peer's long-term key. */
  wrapped: Uint8Array;
}

const HELLO_FIELDS = ['t', 'p', 'v', 'role', 'features', 'rsa', 'x25519', 'nonce'];
const KEY_FIELDS = ['t', 'wrapped'];

export function encodeHello(hello: Hello): Uint8Array {
  return encode({
    t: 'hello',
    p: PROTOCOL_NAME,
    v: PROTOCOL_VERSION,
    role: hello.role,
    features: hello.features,
    rsa: hello.rsa,
    x25519: hello.x25519,
    nonce: hello.nonce,
  });
}

export function encodeKeyMessage(message: KeyMessage): Uint8Array {
  return encode({ t: 'key', wrapped: message.wrapped });
}

function protocolError(message: string, cause?: unknown): NetcryptError {
  return new NetcryptError(ErrorCode.PROTOCOL, message, { cause });
}

function decodeMap(bytes: Uint8Array): Record<string, unknown> {
  const limit = Math.min(bytes.length, MAX_HANDSHAKE_FRAME);
  const decoder = new Decoder({ maxStrLength: 64, maxBinLength: limit, maxArrayLength: 16, maxMapLength: 16, maxExtLength: 0 });
  let value: unknown;
  try {
    value = decoder.decode(bytes);
  } catch (error) {
    throw protocolError('handshake message is not valid MessagePack', error);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || ArrayBuffer.isView(value)) {
    throw protocolError('handshake message is not a map');
  }
  return value as Record<string, unknown>;
}

function checkFields(map: Record<string, unknown>, expected: string[], what: string): void {
  const keys = Object.keys(map);
  if (keys.length !== expected.length || !expected.every((k) => Object.hasOwn(map, k))) {
    throw protocolError(`${what} has fields [${keys.join(', ')}]; expected [${expected.join(', ')}]`);
  }
}

function bytesField(map: Record<string, unknown>, name: string, min: number, max: number): Uint8Array {
  const value = map[name];
  if (!(value instanceof Uint8Array) || value.length < min || value.length > max) {
    throw protocolError(`handshake field "${name}" must be ${min === max ? min : `${min}..${max}`} bytes`);
  }
  return value;
}

export function decodeHello(bytes: Uint8Array): Hello {
  const map = decodeMap(bytes);
  if (map.p !== PROTOCOL_NAME || map.t !== 'hello') throw protocolError('peer is not speaking netcrypt (no netcrypt hello)');
  if (map.v !== PROTOCOL_VERSION) {
    throw new NetcryptError(
      ErrorCode.VERSION,
      `peer speaks netcrypt/${typeof map.v === 'number' ? map.v : String(map.v)}; this side speaks netcrypt/${PROTOCOL_VERSION}`,
    );
  }
  checkFields(map, HELLO_FIELDS, 'hello');
  if (map.role !== 'client' && map.role !== 'server') throw protocolError('hello role must be "client" or "server"');
  const features = map.features;
  if (!Array.isArray(features) || !features.every((f) => typeof f === 'string')) throw protocolError('hello features must be strings');
  const missing = FEATURES.filter((f) => !features.includes(f));
  if (missing.length > 0) {
    throw new NetcryptError(ErrorCode.VERSION, `peer lacks required features: ${missing.join(', ')}`);
  }
  return {
    role: map.role,
    features,
    rsa: bytesField(map, 'rsa', 1, 1024),
    x25519: bytesField(map, 'x25519', 32, 32),
    nonce: bytesField(map, 'nonce', 32, 32),
  };
}

export function decodeKeyMessage(bytes: Uint8Array): KeyMessage {
  const map = decodeMap(bytes);
  if (map.t !== 'key') throw protocolError('expected the key message');
  checkFields(map, KEY_FIELDS, 'key message');
  return { wrapped: bytesField(map, 'wrapped', 256, 512) };
}
