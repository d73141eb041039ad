/**
 * The strict RSA SPKI reader against OpenSSL as the oracle: on valid keys
 * and on arbitrary mutations of them, it accepts exactly what OpenSSL parses
 * as an rsaEncryption key of an accepted size whose canonical DER is the input.
 */

import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { NetcryptError } from '../src/errors.ts';
import { parsePeerPublicKey } from '../src/keys/identity.ts';

const keys = [2048, 3072].map((modulusLength) =>
  generateKeyPairSync('rsa', { modulusLength }).publicKey.export({ format: 'der', type: 'spki' }),
);

function openSslAccepts(der: Buffer): boolean {
  try {
    const key = createPublicKey({ key: der, format: 'der', type: 'spki' });
    const details = key.asymmetricKeyDetails;
    return (
      key.asymmetricKeyType === 'rsa' &&
      [2048, 3072, 4096].includes(details?.modulusLength ?? 0) &&
      details?.publicExponent === 65537n &&
      key.export({ format: 'der', type: 'spki' }).equals(der)
    );
  } catch {
    return false;
  }
}

function weAccept(der: Buffer): boolean {
  try {
    const key = parsePeerPublicKey(der);
    // What we accept must be the very key OpenSSL reads from the same bytes.
    assert.ok(key.export({ format: 'der', type: 'spki' }).equals(der));
    return true;
  } catch (error) {
    assert.ok(error instanceof NetcryptError && error.code === 'ERR_BAD_KEY', String(error));
    return false;
  }
}

describe('strict RSA SubjectPublicKeyInfo reader', () => {
  it('accepts real keys', () => {
    for (const der of keys) assert.ok(weAccept(der));
  });

  it('agrees with OpenSSL on byte edits, insertions and cuts of real keys', () => {
    const edited = fc
      .tuple(
        fc.constantFrom(...keys),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'cut', 'append')), { minLength: 1, maxLength: 3 }),
      )
      .map(([der, edits]) => {
        const bytes = Array.from(der);
        for (const [position, value, op] of edits) {
          const at = bytes.length === 0 ? 0 : position % bytes.length;
          if (op === 'set') bytes[at] = value;
          else if (op === 'insert') bytes.splice(at, 0, value);
          else if (op === 'append') bytes.push(value);
          else bytes.length = at;
        }
        return Buffer.from(bytes);
      });
    fc.assert(
      fc.property(edited, (der) => assert.equal(weAccept(der), openSslAccepts(der), der.toString('hex'))),
      { numRuns: 1500 },
    );
  });

  it('agrees with OpenSSL on the header bytes, exhaustively', () => {
    // Every value of each of the first 40 bytes: tags, lengths, the algorithm identifier, the sign bytes.
    for (const der of keys) {
      for (let at = 0; at < 40; at++) {
        for (let value = 0; value < 256; value++) {
          const copy = Buffer.from(der);
          copy[at] = value;
          assert.equal(weAccept(copy), openSslAccepts(copy), `byte ${at} = 0x${value.toString(16)}`);
        }
      }
    }
  });
});
