/**
 * The two handshake messages of netcrypt/1, as MessagePack maps with a
 * fixed schema in the canonical form of src/codec/strict-msgpack.ts, keys
 * in the order below. Anything else is ERR_PROTOCOL. A hello's first three
 * keys are t, p, v in every version, so they are read and checked before
 * the rest of the schema (including its field count): a peer on another
 * version gets ERR_VERSION, not a schema complaint.
 */

import { StrictReader, StrictWriter } from '../codec/strict-msgpack.ts';
import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';
import { SUITE_PREFERENCE, type SuiteName, isSuiteName } from './records.ts';

export const PROTOCOL_NAME = 'netcrypt';
export const PROTOCOL_VERSION = 1;
/** What every netcrypt/1 peer must list; record suites are negotiated on top (negotiate()). */
export const REQUIRED_FEATURES = ['x25519', 'rsa-oaep-sha256', 'lanes'] as const;
/** Listed by a peer that accepts KEY_UPDATE records (and so may use a256gcm). */
export const KEY_UPDATE_FEATURE = 'key-update';
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

/** Most features a hello may list, and the longest feature name. */
const MAX_FEATURES = 16;
const MAX_FEATURE_BYTES = 64;
/** Most fields a hello of any version may have before this side refuses to read on. */
const MAX_HELLO_FIELDS = 16;

export function encodeHello(hello: Hello): Uint8Array {
  const w = new StrictWriter(MAX_HANDSHAKE_FRAME)
    .map(8)
    .key('t').str('hello')
    .key('p').str(PROTOCOL_NAME)
    .key('v').int(PROTOCOL_VERSION)
    .key('role').str(hello.role)
    .key('features').array(hello.features.length);
  for (const feature of hello.features) w.str(feature);
  return w.key('rsa').bin(hello.rsa).key('x25519').bin(hello.x25519).key('nonce').bin(hello.nonce).finish();
}

export function encodeKeyMessage(message: KeyMessage): Uint8Array {
  return new StrictWriter(600).map(2).key('t').str('key').key('wrapped').bin(message.wrapped).finish();
}

function protocolError(message: string): NetcryptError {
  return new NetcryptError(ErrorCode.PROTOCOL, message);
}

function reader(bytes: Uint8Array): StrictReader {
  if (bytes.length > MAX_HANDSHAKE_FRAME) throw protocolError(`handshake message longer than ${MAX_HANDSHAKE_FRAME} bytes`);
  return new StrictReader(bytes, (reason) => protocolError(`malformed handshake message: ${reason}`));
}

export function decodeHello(bytes: Uint8Array): Hello {
  const r = reader(bytes);
  const fields = r.map(3, MAX_HELLO_FIELDS);
  r.key('t');
  const t = r.str(0, 16);
  r.key('p');
  const p = r.str(0, 16);
  if (t !== 'hello' || p !== PROTOCOL_NAME) throw protocolError('peer is not speaking netcrypt (no netcrypt hello)');
  r.key('v');
  const version = r.int(0, Number.MAX_SAFE_INTEGER);
  if (version !== PROTOCOL_VERSION) {
    throw new NetcryptError(ErrorCode.VERSION, `peer speaks netcrypt/${version}; this side speaks netcrypt/${PROTOCOL_VERSION}`);
  }
  if (fields !== 8) throw protocolError(`hello has ${fields} fields; expected 8`);
  r.key('role');
  const role = r.str(0, 16);
  if (role !== 'client' && role !== 'server') throw protocolError('hello role must be "client" or "server"');
  r.key('features');
  const features = r.array(MAX_FEATURES, 1, () => r.str(0, MAX_FEATURE_BYTES));
  r.key('rsa');
  const rsa = r.bin(1, 1024);
  r.key('x25519');
  const x25519 = r.bin(32, 32);
  r.key('nonce');
  const nonce = r.bin(32, 32);
  r.end();
  if (new Set(features).size !== features.length) throw protocolError('hello lists a feature twice');
  const missing = REQUIRED_FEATURES.filter((f) => !features.includes(f));
  if (missing.length > 0) throw new NetcryptError(ErrorCode.VERSION, `peer lacks required features: ${missing.join(', ')}`);
  return { role, features, rsa, x25519, nonce };
}

export function decodeKeyMessage(bytes: Uint8Array): KeyMessage {
  const r = reader(bytes);
  r.map(2);
  r.key('t');
  if (r.str(0, 16) !== 'key') throw protocolError('expected the key message');
  r.key('wrapped');
  const wrapped = r.bin(256, 512);
  r.end();
  return { wrapped };
}

/**
 * This side's hello features. With only a256cbc-hs512 and no key updates
 * the list is exactly that of a netcrypt/1 peer from before negotiation.
 */
export function helloFeatures(suites: readonly SuiteName[], keyUpdates: boolean): string[] {
  if (suites.length === 0 || !suites.every(isSuiteName)) throw invalidArgument(`suites must be a non-empty list of ${SUITE_PREFERENCE.join(', ')}`);
  if (suites.includes('a256gcm') && !keyUpdates) throw invalidArgument('a256gcm needs key updates');
  return [
    ...(suites.includes('a256cbc-hs512') ? ['a256cbc-hs512'] : []),
    ...REQUIRED_FEATURES,
    ...(suites.includes('a256gcm') ? ['a256gcm'] : []),
    ...(keyUpdates ? [KEY_UPDATE_FEATURE] : []),
  ];
}

export interface Negotiated {
  suite: SuiteName;
  keyUpdates: boolean;
}

/**
 * The same answer on both sides from the two hellos alone: key updates if
 * both list key-update, and the first suite of SUITE_PREFERENCE both list —
 * a256gcm only with key updates, as its usage limits need them.
 */
export function negotiate(local: readonly string[], peer: readonly string[]): Negotiated {
  const keyUpdates = local.includes(KEY_UPDATE_FEATURE) && peer.includes(KEY_UPDATE_FEATURE);
  const suite = SUITE_PREFERENCE.find((name) => local.includes(name) && peer.includes(name) && (name !== 'a256gcm' || keyUpdates));
  if (!suite) throw new NetcryptError(ErrorCode.VERSION, `no record suite in common: this side offers ${local.filter(isSuiteName).join(', ')}`);
  return { suite, keyUpdates };
}
