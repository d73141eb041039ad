/**
 * RSA-OAEP with SHA-256 and MGF1-SHA-256 (RFC 8017 §7.1), used to wrap a fresh
 * secret to a peer's long-term key. The RSA arithmetic is always node:crypto's
 * (OpenSSL, constant time); only the optional seeded encoding is done here.
 */

import { type KeyObject, constants, createHash, privateDecrypt, publicEncrypt } from 'node:crypto';
import { ErrorCode, NetcryptError, authError, invalidArgument } from '../errors.ts';

const HASH_BYTES = 32;

/**
 * Encrypts `secret` (at most modulus bytes − 66) under `label`. Without `seed` the
 * padding is OpenSSL's with fresh randomness; with a 32-byte `seed` the output is
 * reproducible, for the protocol document's worked examples. Never seed in production.
 */
export function wrapSecret(publicKey: KeyObject, secret: Uint8Array, label: Uint8Array, seed?: Uint8Array): Buffer {
  const k = modulusBytes(publicKey, 'public');
  const maxSecret = k - 2 * HASH_BYTES - 2;
  if (secret.length > maxSecret) throw invalidArgument(`an OAEP secret for a ${k * 8}-bit key is at most ${maxSecret} bytes, not ${secret.length}`);
  if (seed !== undefined && seed.length !== HASH_BYTES) throw invalidArgument(`an OAEP seed is ${HASH_BYTES} bytes, not ${seed.length}`);
  try {
    if (seed === undefined) {
      return publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: label }, secret);
    }
    return publicEncrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, emeOaepEncode(k, secret, label, seed));
  } catch (error) {
    // A well-formed key whose modulus is not a valid RSA modulus (e.g. even) fails only here.
    throw new NetcryptError(ErrorCode.BAD_KEY, 'the RSA public key cannot encrypt (invalid modulus)', { cause: error });
  }
}

/** Every failure, whatever its cause, is the same ERR_AUTH, so a peer learns nothing from which check failed. */
export function unwrapSecret(privateKey: KeyObject, wrapped: Uint8Array, label: Uint8Array): Buffer {
  if (wrapped.length !== modulusBytes(privateKey, 'private')) throw authError();
  try {
    return privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: label }, wrapped);
  } catch {
    throw authError();
  }
}

/** EME-OAEP encoding, RFC 8017 §7.1.1 step 2, with the caller's seed. */
function emeOaepEncode(k: number, message: Uint8Array, label: Uint8Array, seed: Uint8Array): Buffer {
  const labelHash = createHash('sha256').update(label).digest();
  const padding = Buffer.alloc(k - message.length - 2 * HASH_BYTES - 2);
  const db = Buffer.concat([labelHash, padding, Buffer.of(0x01), message]);
  const maskedDb = xor(db, mgf1(seed, db.length));
  const maskedSeed = xor(seed, mgf1(maskedDb, HASH_BYTES));
  return Buffer.concat([Buffer.of(0x00), maskedSeed, maskedDb]);
}

/** MGF1 with SHA-256, RFC 8017 Appendix B.2.1. */
function mgf1(seed: Uint8Array, length: number): Buffer {
  const blocks: Buffer[] = [];
  const counter = Buffer.alloc(4);
  for (let i = 0; blocks.length * HASH_BYTES < length; i++) {
    counter.writeUInt32BE(i);
    blocks.push(createHash('sha256').update(seed).update(counter).digest());
  }
  return Buffer.concat(blocks).subarray(0, length);
}

function xor(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) ^ (b[i] as number);
  return out;
}

function modulusBytes(key: KeyObject, type: 'public' | 'private'): number {
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (key.type !== type || key.asymmetricKeyType !== 'rsa' || bits === undefined) {
    throw invalidArgument(`expected an RSA ${type} key`);
  }
  return Math.ceil(bits / 8);
}
