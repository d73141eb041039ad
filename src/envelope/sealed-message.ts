/**
 * Offline envelopes — the seed's per-message construction, for data at
 * rest (`netcrypt encrypt --to key.pub`): a fresh 64-byte content key
 * seals the data with A256CBC-HS512 and is RSA-OAEP-wrapped to the
 * recipient; the envelope carries both. On a connection use a channel
 * instead: it pays the RSA cost once per handshake, not per message.
 *
 *   wrappedKey = RSA-OAEP-SHA256(recipient, K, label = "netcrypt/1 envelope")
 *   AAD        = "netcrypt/1 envelope" ‖ wrappedKey
 */

import { type KeyObject, randomBytes } from 'node:crypto';
import { type BackendChoice, resolveBackend } from '../backend/index.ts';
import { type Backend, IV_BYTES, KEY_BYTES } from '../backend/types.ts';
import { authError } from '../errors.ts';
import { identityFromPrivateKey, parsePeerPublicKey } from '../keys/identity.ts';
import { unwrapSecret, wrapSecret } from '../keys/rsa-oaep.ts';

const LABEL = Buffer.from('netcrypt/1 envelope');

export interface EnvelopeOptions {
  backend?: Backend | BackendChoice;
}

function toBytes(data: Uint8Array | string): Uint8Array {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
}

/** Seals `data` so only the holder of the recipient's private key can open it. */
export async function sealTo(
  recipientPublicKey: KeyObject | string | Uint8Array,
  data: Uint8Array | string,
  options: EnvelopeOptions = {},
): Promise<Uint8Array> {
  const backend = await resolveBackend(options.backend);
  const recipient = parsePeerPublicKey(
    typeof recipientPublicKey === 'object' && 'export' in recipientPublicKey
      ? (recipientPublicKey.export({ type: 'spki', format: 'der' }) as Buffer)
      : recipientPublicKey,
  );
  const contentKey = randomBytes(KEY_BYTES);
  const iv = randomBytes(IV_BYTES);
  const wrappedKey = wrapSecret(recipient, contentKey, LABEL);
  const sealed = backend.seal(contentKey, iv, Buffer.concat([LABEL, wrappedKey]), toBytes(data));
  contentKey.fill(0);
  return backend.encodeEnvelope({
    wrappedKey,
    iv,
    ciphertext: sealed.subarray(0, sealed.length - 32),
    tag: sealed.subarray(sealed.length - 32),
  });
}

/** Opens an envelope with the recipient's private key. Every failure after parsing is ERR_AUTH. */
export async function openWith(
  privateKey: KeyObject | string,
  envelope: Uint8Array,
  options: EnvelopeOptions = {},
): Promise<Buffer> {
  const backend = await resolveBackend(options.backend);
  const { privateKey: key } = identityFromPrivateKey(privateKey);
  const { wrappedKey, iv, ciphertext, tag } = backend.decodeEnvelope(envelope);
  const contentKey = unwrapSecret(key, wrappedKey, LABEL);
  if (contentKey.length !== KEY_BYTES) throw authError();
  try {
    const plaintext = backend.open(contentKey, iv, Buffer.concat([LABEL, wrappedKey]), Buffer.concat([ciphertext, tag]));
    return Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.length);
  } finally {
    contentKey.fill(0);
  }
}
