/**
 * Version 3 onion addresses (rend-spec-v3 §6):
 *
 *   address  = base32(PUBKEY ‖ CHECKSUM ‖ VERSION) ".onion"   — 56 characters before ".onion"
 *   CHECKSUM = SHA3-256(".onion checksum" ‖ PUBKEY ‖ VERSION)[:2]
 *   VERSION  = 0x03
 */

import { createHash } from 'node:crypto';

const BASE32_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const SERVICE_ID_LENGTH = 56;
const PUBKEY_BYTES = 32;
const VERSION = 0x03;

/** True for a well-formed v3 address: `<56 base32 characters>.onion`, checksum and version verified. Case-insensitive. */
export function isValidOnionAddress(address: string): boolean {
  if (typeof address !== 'string' || !address.toLowerCase().endsWith('.onion')) return false;
  return onionPublicKey(address.slice(0, -'.onion'.length)) !== undefined;
}

/**
 * The ed25519 public key a v3 service ID (the address without ".onion", as
 * ADD_ONION returns it) encodes, or undefined if it is not a valid one.
 */
export function onionPublicKey(serviceId: string): Buffer | undefined {
  if (serviceId.length !== SERVICE_ID_LENGTH) return undefined;
  const decoded = base32Decode(serviceId.toLowerCase());
  if (!decoded) return undefined;
  const pubkey = decoded.subarray(0, PUBKEY_BYTES);
  const checksum = decoded.subarray(PUBKEY_BYTES, PUBKEY_BYTES + 2);
  const version = decoded.subarray(PUBKEY_BYTES + 2);
  if (version[0] !== VERSION) return undefined;
  const expected = createHash('sha3-256').update('.onion checksum').update(pubkey).update(version).digest().subarray(0, 2);
  return expected.equals(checksum) ? pubkey : undefined;
}

/** RFC 4648 base32 without padding; 56 characters are exactly 35 bytes, so no bits are left over. `value` keeps only the bits not yet emitted. */
function base32Decode(text: string): Buffer | undefined {
  const bytes: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of text) {
    const index = BASE32_ALPHABET.indexOf(char);
    if (index === -1) return undefined;
    value = ((value << 5) | index) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(bytes);
}
