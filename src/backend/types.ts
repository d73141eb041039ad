/**
 * The bulk-crypto contract every backend implements: A256CBC-HS512
 * (RFC 7518 §5.2.2 and §5.2.5), AES-256-GCM (NIST SP 800-38D, 96-bit nonce,
 * 128-bit tag) and the netcrypt/1 envelope codec. All backends are
 * byte-for-byte interchangeable; each AEAD's argument checks are shared
 * (`aead.ts`), so they also fail identically.
 */

export type BackendName = 'native' | 'wasm' | 'pure';

/** A256CBC-HS512 sizes, RFC 7518 §5.2.5. */
export const KEY_BYTES = 64;
export const IV_BYTES = 16;
export const TAG_BYTES = 32;
export const BLOCK_BYTES = 16;

/** AES-256-GCM sizes: a 32-byte key, a 12-byte nonce, a 16-byte tag after the ciphertext. */
export const GCM_KEY_BYTES = 32;
export const GCM_NONCE_BYTES = 12;
export const GCM_TAG_BYTES = 16;
/** SP 800-38D §5.2.1.1: at most 2³⁹ − 256 bits of plaintext under one nonce. */
export const GCM_MAX_PLAINTEXT_BYTES = 2 ** 36 - 32;

/** The seed's envelope: a content key wrapped for the recipient, and the sealed data. */
export interface Envelope {
  /** The 64-byte content key, RSA-OAEP-wrapped to the recipient (1..ENVELOPE_MAX_WRAPPED_KEY bytes). */
  wrappedKey: Uint8Array;
  /** The CBC initialisation vector (16 bytes). */
  iv: Uint8Array;
  /** The CBC ciphertext (a non-zero multiple of 16 bytes). */
  ciphertext: Uint8Array;
  /** The truncated HMAC-SHA-512 tag (32 bytes). */
  tag: Uint8Array;
}

export const ENVELOPE_VERSION = 1;
/** RSA-4096 produces 512-byte OAEP ciphertexts; nothing larger is legitimate. */
export const ENVELOPE_MAX_WRAPPED_KEY = 512;

export interface Backend {
  readonly name: BackendName;
  /**
   * Encrypts and authenticates. Returns ciphertext ‖ tag, where the ciphertext
   * is PKCS#7-padded (16 to 16 bytes longer than the plaintext).
   */
  seal(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /**
   * The same bytes as seal(), as consecutive pieces, for a caller that hands
   * them to a socket's writev: OpenSSL gives the native backend its
   * ciphertext in two parts, and copying them together costs it about 7 %
   * of a bulk transfer.
   */
  sealPieces(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array[];
  /**
   * Checks the tag in constant time, then decrypts. Every failure — wrong
   * tag, bad length, bad padding — throws the same `ERR_AUTH` NetcryptError.
   */
  open(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array;
  /**
   * AES-256-GCM: returns ciphertext ‖ tag (the ciphertext as long as the
   * plaintext, then 16 bytes). The caller must never seal twice under one
   * key and nonce. Wrong argument types or sizes throw `ERR_INVALID_ARGUMENT`.
   */
  gcmSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** The same bytes as gcmSeal(), as consecutive pieces for a socket's writev. */
  gcmSealPieces(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array[];
  /**
   * Checks the tag of `sealed` = ciphertext ‖ tag in constant time and only
   * then returns the plaintext; no decrypted byte leaves the backend before
   * that. Every failure — wrong tag, wrong key, nonce or AAD, a sealed input
   * shorter than a tag — throws the same `ERR_AUTH` NetcryptError.
   */
  gcmOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array;
  /**
   * gcmOpen() of `sealed` given as consecutive pieces (a frame as it came
   * off the socket), without joining them where the backend can: the
   * plaintext comes back as pieces too, all released only after the tag verified.
   */
  gcmOpenPieces(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: readonly Uint8Array[]): Uint8Array[];
  /** Serialises an envelope in its one canonical MessagePack form. */
  encodeEnvelope(envelope: Envelope): Uint8Array;
  /**
   * Parses the canonical form only; anything else throws `ERR_BAD_ENVELOPE`.
   * The returned fields may be views into `bytes`.
   */
  decodeEnvelope(bytes: Uint8Array): Envelope;
}
