/** The node:crypto (OpenSSL) backend. */

import { createCipheriv, createDecipheriv, createHmac, getCiphers, getHashes, timingSafeEqual } from 'node:crypto';
import { ErrorCode, NetcryptError, authError } from '../errors.ts';
import { aadBitLength, checkSealArgs, checkSealedLength, encKey, macKey } from './a256cbc-hs512.ts';
import { decodeEnvelope, encodeEnvelope } from './envelope-codec.ts';
import { type Backend, TAG_BYTES } from './types.ts';

/** The tag over AAD ‖ IV ‖ ciphertext ‖ AL, the ciphertext given in pieces. */
function tagOf(key: Uint8Array, aad: Uint8Array, iv: Uint8Array, ...ciphertext: Uint8Array[]): Buffer {
  const hmac = createHmac('sha512', macKey(key)).update(aad).update(iv);
  for (const piece of ciphertext) hmac.update(piece);
  return hmac.update(aadBitLength(aad)).digest().subarray(0, TAG_BYTES);
}

/** Ciphertext as OpenSSL returns it (all whole blocks, then the padded last one) and the tag. */
function sealPieces(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Buffer[] {
  checkSealArgs(key, iv, aad, plaintext);
  const cipher = createCipheriv('aes-256-cbc', encKey(key), iv);
  const head = cipher.update(plaintext);
  const tail = cipher.final();
  const tag = tagOf(key, aad, iv, head, tail);
  return head.length > 0 ? [head, tail, tag] : [tail, tag];
}

export function createNativeBackend(): Backend {
  if (!getCiphers().includes('aes-256-cbc') || !getHashes().includes('sha512')) {
    throw new NetcryptError(ErrorCode.BACKEND_UNAVAILABLE, 'node:crypto lacks aes-256-cbc or sha512');
  }
  return {
    name: 'native',
    seal: (key, iv, aad, plaintext) => Buffer.concat(sealPieces(key, iv, aad, plaintext)),
    sealPieces,
    open(key, iv, aad, sealed) {
      checkSealArgs(key, iv, aad, sealed);
      checkSealedLength(sealed);
      const ciphertext = sealed.subarray(0, sealed.length - TAG_BYTES);
      const tag = sealed.subarray(sealed.length - TAG_BYTES);
      if (!timingSafeEqual(tagOf(key, aad, iv, ciphertext), tag)) throw authError();
      try {
        const decipher = createDecipheriv('aes-256-cbc', encKey(key), iv);
        const head = decipher.update(ciphertext);
        const tail = decipher.final();
        return tail.length === 0 ? head : Buffer.concat([head, tail]);
      } catch {
        // Only a holder of the key can produce a valid tag over bad padding; still one uniform error.
        throw authError();
      }
    },
    encodeEnvelope,
    decodeEnvelope,
  };
}
