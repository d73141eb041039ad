/**
 * The parts of A256CBC-HS512 (RFC 7518 §5.2.2) that do not depend on which
 * AES/HMAC implementation a backend uses: argument checks, key split, the
 * AL block, and the seal/open composition with its check-then-decrypt order.
 */

import { authError, invalidArgument } from '../errors.ts';
import { BLOCK_BYTES, IV_BYTES, KEY_BYTES, TAG_BYTES } from './types.ts';

export function checkSealArgs(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, data: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) throw invalidArgument(`key must be ${KEY_BYTES} bytes`);
  if (!(iv instanceof Uint8Array) || iv.length !== IV_BYTES) throw invalidArgument(`iv must be ${IV_BYTES} bytes`);
  if (!(aad instanceof Uint8Array)) throw invalidArgument('aad must be a Uint8Array');
  if (!(data instanceof Uint8Array)) throw invalidArgument('data must be a Uint8Array');
}

/** Rejects impossible sealed lengths with the same error as a bad tag. */
export function checkSealedLength(sealed: Uint8Array): void {
  const ctLength = sealed.length - TAG_BYTES;
  if (ctLength < BLOCK_BYTES || ctLength % BLOCK_BYTES !== 0) throw authError();
}

/** AL: the AAD length in bits as a 64-bit big-endian integer. */
export function aadBitLength(aad: Uint8Array): Uint8Array {
  const al = new Uint8Array(8);
  const view = new DataView(al.buffer);
  // aad.length * 8 can pass 2^32; split it without BigInt (this runs once per record).
  view.setUint32(0, Math.floor(aad.length / 0x20000000), false);
  view.setUint32(4, (aad.length * 8) >>> 0, false);
  return al;
}

export function macKey(key: Uint8Array): Uint8Array {
  return key.subarray(0, 32);
}

export function encKey(key: Uint8Array): Uint8Array {
  return key.subarray(32, 64);
}

/** Length of the PKCS#7-padded ciphertext for a plaintext of `length` bytes. */
export function paddedLength(length: number): number {
  return (Math.floor(length / BLOCK_BYTES) + 1) * BLOCK_BYTES;
}
