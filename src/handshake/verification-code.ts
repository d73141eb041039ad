/**
 * The short authentication string two people compare to rule out a man in
 * the middle: both ends derive it from the handshake's transcript hash H,
 * which covers both hellos and both key messages, so a relay that
 * terminates each side with its own key leaves the two ends with different
 * transcripts and (but for a 1 in 10^15 chance) different codes.
 *
 *   code = digits(HKDF-SHA-256(ikm = H, salt = "", info = "netcrypt/1 verification code", 16 bytes))
 *
 * The 16 bytes are read as a big-endian integer, reduced mod 10^15, written
 * as 15 decimal digits with leading zeros and split into three groups of
 * five: "04217 88301 56293".
 */

import { hkdfSha256 } from '../keys/hkdf.ts';

const LABEL = 'netcrypt/1 verification code';
const GROUPS = 3;
const GROUP_DIGITS = 5;
const DIGITS = GROUPS * GROUP_DIGITS;

export function verificationCode(transcriptHash: Uint8Array): string {
  const bytes = hkdfSha256(transcriptHash, new Uint8Array(0), LABEL, 16);
  const value = BigInt(`0x${bytes.toString('hex')}`) % 10n ** BigInt(DIGITS);
  const digits = value.toString().padStart(DIGITS, '0');
  return Array.from({ length: GROUPS }, (_, i) => digits.slice(i * GROUP_DIGITS, (i + 1) * GROUP_DIGITS)).join(' ');
}
