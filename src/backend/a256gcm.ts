/**
 * AES-256-GCM (NIST SP 800-38D) with a 96-bit nonce and a 128-bit tag: the
 * sizes and limits the shared checks enforce. Each backend supplies the
 * cipher itself (node:crypto, @noble/ciphers, or the crate's constant-time
 * bitsliced AES-CTR and GHASH).
 */

import type { AeadSpec } from './aead.ts';
import { GCM_KEY_BYTES, GCM_MAX_PLAINTEXT_BYTES, GCM_NONCE_BYTES, GCM_TAG_BYTES } from './types.ts';

export const A256GCM: AeadSpec = {
  keyBytes: GCM_KEY_BYTES,
  nonceName: 'nonce',
  nonceBytes: GCM_NONCE_BYTES,
  maxPlaintextBytes: GCM_MAX_PLAINTEXT_BYTES,
  sealedLengthPossible: (length) => length >= GCM_TAG_BYTES && length - GCM_TAG_BYTES <= GCM_MAX_PLAINTEXT_BYTES,
};
