/** The node:crypto (OpenSSL) backend. */

import { createCipheriv, createDecipheriv, createHmac, getCiphers, getHashes, timingSafeEqual } from 'node:crypto';
import { ErrorCode, NetcryptError } from '../errors.ts';
import { A256CBC_HS512, cbcHs512Core } from './a256cbc-hs512.ts';
import { A256GCM } from './a256gcm.ts';
import { type AeadCore, wrapAead } from './aead.ts';
import { decodeEnvelope, encodeEnvelope } from './envelope-codec.ts';
import { type Backend, GCM_TAG_BYTES } from './types.ts';

const cbcHs512 = cbcHs512Core({
  cbcEncrypt(key, iv, plaintext) {
    // As OpenSSL returns it: all whole blocks, then the padded last one.
    const cipher = createCipheriv('aes-256-cbc', key, iv);
    return [cipher.update(plaintext), cipher.final()];
  },
  cbcDecrypt(key, iv, ciphertext) {
    try {
      const decipher = createDecipheriv('aes-256-cbc', key, iv);
      const head = decipher.update(ciphertext);
      const tail = decipher.final();
      return tail.length === 0 ? head : Buffer.concat([head, tail]);
    } catch {
      return null; // bad padding
    }
  },
  hmacSha512(key, pieces) {
    const hmac = createHmac('sha512', key);
    for (const piece of pieces) hmac.update(piece);
    return hmac.digest();
  },
  equal: timingSafeEqual,
});

/** One options object for every GCM cipher: node:crypto only reads it. */
const GCM_OPTIONS = { authTagLength: GCM_TAG_BYTES } as const;

const aesGcm: AeadCore = {
  sealPieces(key, nonce, aad, plaintext) {
    const cipher = createCipheriv('aes-256-gcm', key, nonce, GCM_OPTIONS).setAAD(aad);
    const ciphertext = cipher.update(plaintext);
    cipher.final();
    return [ciphertext, cipher.getAuthTag()];
  },
  open(key, nonce, aad, sealed) {
    const ciphertextLength = sealed.length - GCM_TAG_BYTES;
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_BYTES })
      .setAAD(aad)
      .setAuthTag(sealed.subarray(ciphertextLength));
    // OpenSSL decrypts before final() checks the tag; the plaintext stays here until then.
    const plaintext = decipher.update(sealed.subarray(0, ciphertextLength));
    try {
      decipher.final();
    } catch {
      plaintext.fill(0);
      return null;
    }
    return plaintext;
  },
  openPieces(key, nonce, aad, sealed, length) {
    const ciphertextLength = length - GCM_TAG_BYTES;
    const last = sealed[sealed.length - 1]!;
    // The tag is the last 16 bytes, which a socket may have split.
    const tag = last.length >= GCM_TAG_BYTES ? last.subarray(last.length - GCM_TAG_BYTES) : Buffer.concat(sealed).subarray(ciphertextLength);
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_BYTES }).setAAD(aad).setAuthTag(tag);
    // OpenSSL decrypts before final() checks the tag; the plaintext stays here until then.
    const plaintext: Buffer[] = [];
    let remaining = ciphertextLength;
    for (const piece of sealed) {
      if (remaining === 0) break;
      const part = piece.length <= remaining ? piece : piece.subarray(0, remaining);
      remaining -= part.length;
      if (part.length > 0) plaintext.push(decipher.update(part));
    }
    try {
      decipher.final();
    } catch {
      for (const piece of plaintext) piece.fill(0);
      return null;
    }
    return plaintext;
  },
};

export function createNativeBackend(): Backend {
  const ciphers = getCiphers();
  if (!ciphers.includes('aes-256-cbc') || !ciphers.includes('aes-256-gcm') || !getHashes().includes('sha512')) {
    throw new NetcryptError(ErrorCode.BACKEND_UNAVAILABLE, 'node:crypto lacks aes-256-cbc, aes-256-gcm or sha512');
  }
  const cbcAead = wrapAead(A256CBC_HS512, cbcHs512);
  const gcmAead = wrapAead(A256GCM, aesGcm);
  return {
    name: 'native',
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
