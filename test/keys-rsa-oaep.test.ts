/**
 * RSA-OAEP-SHA-256 against every Wycheproof case at 2048, 3072 and 4096 bits, and
 * the seeded encoder checked byte for byte against Wycheproof's own ciphertexts.
 */

import assert from 'node:assert/strict';
import { type KeyObject, constants, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, privateDecrypt, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { isNetcryptError } from '../src/errors.ts';
import { identityFromPrivateKey } from '../src/keys/identity.ts';
import { unwrapSecret, wrapSecret } from '../src/keys/rsa-oaep.ts';
import { hex, readShared } from './helpers/vectors.ts';

const isAuth = (error: unknown) => isNetcryptError(error, 'ERR_AUTH') && error.message === 'authentication failed';
const isInvalidArgument = (error: unknown) => isNetcryptError(error, 'ERR_INVALID_ARGUMENT');

/**
 * Recovers the seed Wycheproof's encoder used: raw RSA gives EM = 0x00 ‖ maskedSeed ‖ maskedDB,
 * and with hLen = 32 the seed mask is the single MGF1 block SHA-256(maskedDB ‖ 00000000).
 * Written independently of src/, so it checks the encoder rather than mirroring it.
 */
function recoverSeed(privateKey: KeyObject, ciphertext: Buffer): Buffer {
  const em = privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, ciphertext);
  const seedMask = createHash('sha256').update(em.subarray(33)).update(Buffer.alloc(4)).digest();
  return Buffer.from(em.subarray(1, 33).map((byte, i) => byte ^ (seedMask[i] as number)));
}

for (const bits of [2048, 3072, 4096]) {
  const file = readShared(`rsa_oaep_${bits}_sha256_mgf1sha256_test.json`);
  const group = file.testGroups[0] as unknown as { privateKeyPkcs8: string; privateKeyPem: string };
  const fromDer = createPrivateKey({ key: hex(group.privateKeyPkcs8), format: 'der', type: 'pkcs8' });
  const fromPem = identityFromPrivateKey(group.privateKeyPem);
  const publicKey = fromPem.publicKey;

  describe(`RSA-OAEP ${bits}`, () => {
    it(`Wycheproof: every case, keys from PKCS#8 DER and PEM`, () => {
      let count = 0;
      let valid = 0;
      for (const g of file.testGroups) {
        for (const t of g.tests) {
          const label = hex(t.label as string);
          const ciphertext = hex(t.ct as string);
          const context = `tcId ${t.tcId} ${t.comment}`;
          for (const privateKey of [fromDer, fromPem.privateKey]) {
            if (t.result === 'valid') {
              assert.deepEqual(unwrapSecret(privateKey, ciphertext, label), hex(t.msg as string), context);
            } else {
              assert.throws(() => unwrapSecret(privateKey, ciphertext, label), isAuth, context);
            }
          }
          if (t.result === 'valid') {
            // The seeded encoder reproduces Wycheproof's ciphertext exactly from the same seed.
            const seed = recoverSeed(fromDer, ciphertext);
            assert.deepEqual(wrapSecret(publicKey, hex(t.msg as string), label, seed), ciphertext, context);
            valid++;
          }
          count++;
        }
      }
      assert.equal(count, file.numberOfTests);
      assert.equal(valid, 18);
    });

    it('a seeded wrap is reproducible and node’s OAEP decryption recovers it', () => {
      const secret = randomBytes(32);
      const label = Buffer.from('netcrypt/1 test label');
      const seed = randomBytes(32);
      const wrapped = wrapSecret(publicKey, secret, label, seed);
      assert.equal(wrapped.length, bits / 8);
      assert.deepEqual(wrapSecret(publicKey, secret, label, seed), wrapped);
      assert.deepEqual(unwrapSecret(fromDer, wrapped, label), secret);
      assert.notDeepEqual(wrapSecret(publicKey, secret, label, randomBytes(32)), wrapped);
    });

    it('unseeded wraps differ each time and unwrap to the secret', () => {
      const secret = randomBytes(32);
      const label = Buffer.alloc(0);
      const a = wrapSecret(publicKey, secret, label);
      const b = wrapSecret(publicKey, secret, label);
      assert.notDeepEqual(a, b);
      assert.deepEqual(unwrapSecret(fromDer, a, label), secret);
      assert.deepEqual(unwrapSecret(fromDer, b, label), secret);
    });

    it('accepts secrets up to the OAEP maximum, seeded or not', () => {
      const max = bits / 8 - 66;
      for (const seed of [undefined, randomBytes(32)]) {
        for (const length of [0, 1, 32, max]) {
          const secret = randomBytes(length);
          assert.deepEqual(unwrapSecret(fromDer, wrapSecret(publicKey, secret, Buffer.of(1), seed), Buffer.of(1)), secret);
        }
        assert.throws(() => wrapSecret(publicKey, randomBytes(max + 1), Buffer.alloc(0), seed), isInvalidArgument);
      }
    });
  });
}

describe('RSA-OAEP failures', () => {
  const group = readShared('rsa_oaep_2048_sha256_mgf1sha256_test.json').testGroups[0] as unknown as { privateKeyPem: string };
  const privateKey = createPrivateKey(group.privateKeyPem);
  const publicKey = createPublicKey(privateKey);
  const secret = randomBytes(32);
  const label = Buffer.from('label');
  const wrapped = wrapSecret(publicKey, secret, label);

  it('a wrong label, a flipped bit or a wrong length is the uniform ERR_AUTH', () => {
    assert.throws(() => unwrapSecret(privateKey, wrapped, Buffer.from('lable')), isAuth);
    assert.throws(() => unwrapSecret(privateKey, wrapped, Buffer.alloc(0)), isAuth);
    const flipped = Buffer.from(wrapped);
    flipped[100] = (flipped[100] as number) ^ 1;
    assert.throws(() => unwrapSecret(privateKey, flipped, label), isAuth);
    assert.throws(() => unwrapSecret(privateKey, wrapped.subarray(1), label), isAuth);
    assert.throws(() => unwrapSecret(privateKey, Buffer.concat([wrapped, Buffer.of(0)]), label), isAuth);
    assert.throws(() => unwrapSecret(privateKey, Buffer.alloc(0), label), isAuth);
    assert.throws(() => unwrapSecret(privateKey, Buffer.alloc(256, 0xff), label), isAuth);
  });

  it('the wrong key for the job is an argument error, not an authentication failure', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    assert.throws(() => wrapSecret(privateKey, secret, label), isInvalidArgument);
    assert.throws(() => wrapSecret(ec.publicKey, secret, label), isInvalidArgument);
    assert.throws(() => unwrapSecret(publicKey, wrapped, label), isInvalidArgument);
    assert.throws(() => unwrapSecret(ec.privateKey, wrapped, label), isInvalidArgument);
  });

  it('a seed must be exactly 32 bytes', () => {
    assert.throws(() => wrapSecret(publicKey, secret, label, randomBytes(31)), isInvalidArgument);
    assert.throws(() => wrapSecret(publicKey, secret, label, randomBytes(33)), isInvalidArgument);
  });
});
