/** HKDF-SHA-256 (RFC 5869) over node:crypto, with its limits checked up front so they surface as NetcryptErrors. */

import { hkdfSync } from 'node:crypto';
import { invalidArgument } from '../errors.ts';

/** RFC 5869: at most 255 blocks of the hash's 32 bytes. */
export const HKDF_SHA256_MAX_LENGTH = 255 * 32;
/** node's own limit on `info`. */
const MAX_INFO_BYTES = 1024;

/** A string `info` (a protocol label) is taken as UTF-8. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array | string, length: number): Buffer {
  if (!Number.isInteger(length) || length < 1 || length > HKDF_SHA256_MAX_LENGTH) {
    throw invalidArgument(`HKDF-SHA-256 output length must be 1 to ${HKDF_SHA256_MAX_LENGTH} bytes, not ${length}`);
  }
  const infoBytes = typeof info === 'string' ? Buffer.from(info, 'utf8') : info;
  if (infoBytes.length > MAX_INFO_BYTES) throw invalidArgument(`HKDF info must be at most ${MAX_INFO_BYTES} bytes, not ${infoBytes.length}`);
  return Buffer.from(hkdfSync('sha256', ikm, salt, infoBytes, length));
}
