/** The node:crypto (OpenSSL) backend. */

import { createCipheriv, createDecipheriv, createHmac, getCiphers, getHashes, timingSafeEqual } from 'node:crypto';
import { ErrorCode, NetcryptError, authError } from '../errors.ts';
import { aadBitLength, checkSealArgs, checkSealedLength, encKey, macKey } from './a256cbc-hs512.ts';
import { decodeEnvelope, encodeEnvelope } from './envelope-codec.ts';
import { type Backend, TAG_BYTES } from './types.ts';

/** The tag over AAD ‖ IV ‖ ciphertext ‖ AL, the ciphertext given in one or two pieces. */
function tagOf(key: Uint8Array, aad: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array, tail?: Uint8Array): Buffer {
  const hmac = createHmac('sha512', macKey(key)).update(aad).update(iv).update(ciphertext);
  if (tail) hmac.update(tail);
  return hmac.update(aadBitLength(aad)).digest().subarray(0, TAG_BYTES);
}

/** CBC encryption as OpenSSL returns it: all whole blocks, then the padded last one. */
function encrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): [Buffer, Buffer] {
  const cipher = createCipheriv('aes-256-cbc', encKey(key), iv);
  return [cipher.update(plaintext), cipher.final()];
}

export function createNativeBackend(): Backend {
  if (!getCiphers().includes('aes-256-cbc') || !getHashes().includes('sha512')) {
    throw new NetcryptError(ErrorCode.BACKEND_UNAVAILABLE, 'node:crypto lacks aes-256-cbc or sha512');
  }
  return {
    name: 'native',
    seal(key, iv, aad, plaintext) {
      checkSealArgs(key, iv, aad, plaintext);
      const [head, tail] = encrypt(key, iv, plaintext);
      // Copied together first and the tag taken over the copy: bench:crypto finds this
      // about 15 % faster at 64 KiB than tagging OpenSSL's pieces and concatenating after.
      const sealed = Buffer.allocUnsafe(head.length + tail.length + TAG_BYTES);
      head.copy(sealed, 0);
      tail.copy(sealed, head.length);
      const ciphertext = sealed.subarray(0, head.length + tail.length);
      tagOf(key, aad, iv, ciphertext).copy(sealed, ciphertext.length);
      return sealed;
    },
    sealPieces(key, iv, aad, plaintext) {
      checkSealArgs(key, iv, aad, plaintext);
      const [head, tail] = encrypt(key, iv, plaintext);
      const tag = tagOf(key, aad, iv, head, tail);
      return head.length > 0 ? [head, tail, tag] : [tail, tag];
    },
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
