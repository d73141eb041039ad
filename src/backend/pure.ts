/** The pure TypeScript backend, on the audited @noble/ciphers and @noble/hashes. */

import { cbc, gcm } from '@noble/ciphers/aes.js';
import { equalBytes } from '@noble/ciphers/utils.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { A256CBC_HS512, cbcHs512Core } from './a256cbc-hs512.ts';
import { A256GCM } from './a256gcm.ts';
import { type AeadCore, wrapAead } from './aead.ts';
import { decodeEnvelope, encodeEnvelope } from './envelope-codec.ts';
import type { Backend } from './types.ts';

const cbcHs512 = cbcHs512Core({
  cbcEncrypt: (key, iv, plaintext) => [cbc(key, iv).encrypt(plaintext)],
  cbcDecrypt(key, iv, ciphertext) {
    try {
      return cbc(key, iv).decrypt(ciphertext);
    } catch {
      return null; // bad padding
    }
  },
  hmacSha512(key, pieces) {
    const mac = hmac.create(sha512, key);
    for (const piece of pieces) mac.update(piece);
    return mac.digest();
  },
  equal: equalBytes,
});

const aesGcm: AeadCore = {
  sealPieces: (key, nonce, aad, plaintext) => [gcm(key, nonce, aad).encrypt(plaintext)],
  open(key, nonce, aad, sealed) {
    try {
      // noble checks the tag before it runs CTR, and throws on a mismatch.
      return gcm(key, nonce, aad).decrypt(sealed);
    } catch {
      return null;
    }
  },
};

export function createPureBackend(): Backend {
  const cbcAead = wrapAead(A256CBC_HS512, cbcHs512);
  const gcmAead = wrapAead(A256GCM, aesGcm);
  return {
    name: 'pure',
    seal: cbcAead.seal,
    sealPieces: cbcAead.sealPieces,
    open: cbcAead.open,
    gcmSeal: gcmAead.seal,
    gcmSealPieces: gcmAead.sealPieces,
    gcmOpen: gcmAead.open,
    gcmOpenPieces: gcmAead.openPieces,
    encodeEnvelope,
    decodeEnvelope,
  };
}
