/** The pure TypeScript backend, on the audited @noble/ciphers and @noble/hashes. */

import { cbc } from '@noble/ciphers/aes.js';
import { equalBytes } from '@noble/ciphers/utils.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { authError } from '../errors.ts';
import { aadBitLength, checkSealArgs, checkSealedLength, encKey, macKey } from './a256cbc-hs512.ts';
import { decodeEnvelope, encodeEnvelope } from './envelope-codec.ts';
import { type Backend, TAG_BYTES } from './types.ts';

function tagOf(key: Uint8Array, aad: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  return hmac
    .create(sha512, macKey(key))
    .update(aad)
    .update(iv)
    .update(ciphertext)
    .update(aadBitLength(aad))
    .digest()
    .subarray(0, TAG_BYTES);
}

function seal(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  checkSealArgs(key, iv, aad, plaintext);
  const ciphertext = cbc(encKey(key), iv).encrypt(plaintext);
  const sealed = new Uint8Array(ciphertext.length + TAG_BYTES);
  sealed.set(ciphertext, 0);
  sealed.set(tagOf(key, aad, iv, ciphertext), ciphertext.length);
  return sealed;
}

export function createPureBackend(): Backend {
  return {
    name: 'pure',
    seal,
    sealPieces: (key, iv, aad, plaintext) => [seal(key, iv, aad, plaintext)],
    open(key, iv, aad, sealed) {
      checkSealArgs(key, iv, aad, sealed);
      checkSealedLength(sealed);
      const ciphertext = sealed.subarray(0, sealed.length - TAG_BYTES);
      const tag = sealed.subarray(sealed.length - TAG_BYTES);
      if (!equalBytes(tagOf(key, aad, iv, ciphertext), tag)) throw authError();
      try {
        return cbc(encKey(key), iv).decrypt(ciphertext);
      } catch {
        throw authError();
      }
    },
    encodeEnvelope,
    decodeEnvelope,
  };
}
