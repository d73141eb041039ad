/**
 * Ephemeral X25519 (RFC 7748) for forward secrecy: the long-term RSA keys never
 * see the session keys' main ingredient.
 */

import { type JsonWebKey, type KeyObject, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, timingSafeEqual } from 'node:crypto';
import { ErrorCode, NetcryptError, authError, invalidArgument } from '../errors.ts';

export const X25519_KEY_BYTES = 32;

// RFC 8410's PKCS#8 wrapper: the raw 32-byte private key follows the prefix.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const ZERO = Buffer.alloc(X25519_KEY_BYTES);

export interface Ephemeral {
  readonly privateKey: KeyObject;
  readonly publicRaw: Buffer;
}

/** A fresh key pair, or, for the protocol document's worked examples, the one with the given private bytes. */
export function generateEphemeral(privateRaw?: Uint8Array): Ephemeral {
  if (privateRaw === undefined) {
    // X25519 key generation takes microseconds: no reason to leave the thread. The public key is
    // exported as JWK by the generation itself: Node 20's publicKey.export({ format: 'jwk' }) on a
    // freshly generated key can deadlock the process (it allocates while holding the key's lock,
    // and a garbage collection then finalises the generation job, which takes the same lock).
    // JWK, not DER: OpenSSL 3's DER encoder costs ~150 µs more a key (once per handshake, each side).
    // @types/node 20 does not know the 'jwk' encoding here; Node does (since 15.12).
    const { privateKey, publicKey } = generateKeyPairSync('x25519', { publicKeyEncoding: { format: 'jwk' } } as {}) as unknown as { privateKey: KeyObject; publicKey: JsonWebKey };
    return { privateKey, publicRaw: Buffer.from(publicKey.x!, 'base64url') };
  }
  if (privateRaw.length !== X25519_KEY_BYTES) throw invalidArgument(`an X25519 private key is ${X25519_KEY_BYTES} bytes, not ${privateRaw.length}`);
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, privateRaw]), format: 'der', type: 'pkcs8' });
  const publicRaw = Buffer.from(createPublicKey(privateKey).export({ format: 'jwk' }).x!, 'base64url');
  return { privateKey, publicRaw };
}

/**
 * The shared secret with a peer's raw public key. Any 32 bytes are a public key
 * (RFC 7748 masks the top bit and reduces mod p), but a low-order point forces
 * the all-zero secret, which an attacker would know: that is ERR_AUTH (RFC 7748 §6.1).
 */
export function x25519Shared(privateKey: KeyObject, peerPublicRaw: Uint8Array): Buffer {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'x25519') throw invalidArgument('expected an X25519 private key');
  if (peerPublicRaw.length !== X25519_KEY_BYTES) {
    throw new NetcryptError(ErrorCode.BAD_KEY, `peer X25519 public key must be ${X25519_KEY_BYTES} bytes, not ${peerPublicRaw.length}`);
  }
  let shared: Buffer;
  try {
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(peerPublicRaw).toString('base64url') }, format: 'jwk' });
    shared = diffieHellman({ privateKey, publicKey });
  } catch {
    // OpenSSL refuses an all-zero result itself, as ERR_OSSL_FAILED_DURING_DERIVATION.
    throw authError();
  }
  // Kept for a node linked against a library that does not refuse it.
  if (timingSafeEqual(shared, ZERO)) throw authError();
  return shared;
}
