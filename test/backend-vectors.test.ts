/**
 * The same vector files drive every backend (and `cargo test` in crate/):
 * RFC 7518 B.3, Wycheproof A256CBC-HS512 (all cases), the GCM
 * specification's AES-256 test cases 13–16, Wycheproof AES-GCM (every
 * 256-bit-key, 96-bit-IV, 128-bit-tag case), and the envelope vectors.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadBackend } from '../src/backend/index.ts';
import { NetcryptError } from '../src/errors.ts';
import { BACKEND_NAMES } from './helpers/backends.ts';
import { type EnvelopeVectors, type WycheproofFile, type WycheproofTest, hex, readRepoVectors, readShared } from './helpers/vectors.ts';

const aeadFiles: [string, WycheproofFile][] = [
  ['RFC 7518 B.3', readRepoVectors<WycheproofFile>('rfc7518_a256cbc_hs512.json')],
  ['Wycheproof a256cbc_hs512', readShared('a256cbc_hs512_test.json')],
];
const envelopeVectors = readRepoVectors<EnvelopeVectors>('envelope.json');

const gcmCases = (file: WycheproofFile) =>
  file.testGroups
    .filter((g) => g.keySize === 256 && (g as { ivSize?: number }).ivSize === 96 && g.tagSize === 128)
    .flatMap((g) => g.tests);
/** Each GCM file's cases, and how many are valid and invalid (so that a filter gone wrong cannot pass by testing nothing). */
const gcmFiles: [string, WycheproofTest[], { valid: number; invalid: number }][] = [
  ['GCM specification test cases 13-16', gcmCases(readRepoVectors<WycheproofFile>('gcm_spec_test_cases.json')), { valid: 4, invalid: 0 }],
  ['Wycheproof aes_gcm (256-bit key, 96-bit IV, 128-bit tag)', gcmCases(readShared('aes_gcm_test.json')), { valid: 39, invalid: 27 }],
];

function assertAuthError(fn: () => unknown): void {
  assert.throws(fn, (error: unknown) => error instanceof NetcryptError && error.code === 'ERR_AUTH' && error.message === 'authentication failed');
}

for (const name of BACKEND_NAMES) {
  describe(`backend ${name}`, async () => {
    const backend = await loadBackend(name);

    it('reports its name', () => assert.equal(backend.name, name));

    for (const [label, file] of aeadFiles) {
      it(`${label}: every case`, () => {
        let count = 0;
        for (const group of file.testGroups) {
          for (const t of group.tests) {
            const key = hex(t.key as string);
            const iv = hex(t.iv as string);
            const aad = hex(t.aad as string);
            const expected = Buffer.concat([hex(t.ct as string), hex(t.tag as string)]);
            const context = `tcId ${t.tcId} ${t.comment}`;
            if (t.result === 'valid') {
              assert.deepEqual(Buffer.from(backend.seal(key, iv, aad, hex(t.msg as string))), expected, context);
              assert.deepEqual(Buffer.concat(backend.sealPieces(key, iv, aad, hex(t.msg as string))), expected, context);
              assert.deepEqual(Buffer.from(backend.open(key, iv, aad, expected)), hex(t.msg as string), context);
            } else {
              assertAuthError(() => backend.open(key, iv, aad, expected));
            }
            count++;
          }
        }
        assert.equal(count, file.numberOfTests);
      });
    }

    for (const [label, cases, expected] of gcmFiles) {
      it(`${label}: every case`, () => {
        const count = { valid: 0, invalid: 0 };
        for (const t of cases) {
          const key = hex(t.key as string);
          const nonce = hex(t.iv as string);
          const aad = hex(t.aad as string);
          const msg = hex(t.msg as string);
          const sealed = Buffer.concat([hex(t.ct as string), hex(t.tag as string)]);
          const context = `tcId ${t.tcId} ${t.comment}`;
          if (t.result === 'valid') {
            assert.deepEqual(Buffer.from(backend.gcmSeal(key, nonce, aad, msg)), sealed, context);
            assert.deepEqual(Buffer.concat(backend.gcmSealPieces(key, nonce, aad, msg)), sealed, context);
            assert.deepEqual(Buffer.from(backend.gcmOpen(key, nonce, aad, sealed)), msg, context);
            count.valid++;
          } else {
            assertAuthError(() => backend.gcmOpen(key, nonce, aad, sealed));
            count.invalid++;
          }
        }
        assert.deepEqual(count, expected);
      });
    }

    it('GCM: keys and nonces of the wrong size are argument errors', () => {
      const empty = new Uint8Array(0);
      for (const [key, nonce] of [
        [new Uint8Array(16), new Uint8Array(12)],
        [new Uint8Array(64), new Uint8Array(12)],
        [new Uint8Array(32), new Uint8Array(16)],
        [new Uint8Array(32), new Uint8Array(8)],
      ] as const) {
        assert.throws(() => backend.gcmSeal(key, nonce, empty, empty), { code: 'ERR_INVALID_ARGUMENT' });
        assert.throws(() => backend.gcmSealPieces(key, nonce, empty, empty), { code: 'ERR_INVALID_ARGUMENT' });
        assert.throws(() => backend.gcmOpen(key, nonce, empty, new Uint8Array(16)), { code: 'ERR_INVALID_ARGUMENT' });
      }
      assert.throws(() => backend.gcmSeal(new Uint8Array(32), new Uint8Array(12), 'aad' as never, empty), { code: 'ERR_INVALID_ARGUMENT' });
    });

    it('GCM: a sealed input shorter than a tag is the one uniform ERR_AUTH', () => {
      for (let length = 0; length < 16; length++) {
        assertAuthError(() => backend.gcmOpen(new Uint8Array(32), new Uint8Array(12), new Uint8Array(0), new Uint8Array(length)));
      }
    });

    it('envelope vectors: valid cases encode exactly and decode back', () => {
      for (const v of envelopeVectors.valid) {
        const fields = { wrappedKey: hex(v.wrappedKey), iv: hex(v.iv), ciphertext: hex(v.ciphertext), tag: hex(v.tag) };
        assert.deepEqual(Buffer.from(backend.encodeEnvelope(fields)), hex(v.encoded), v.comment);
        const decoded = backend.decodeEnvelope(hex(v.encoded));
        assert.deepEqual(
          Object.fromEntries(Object.entries(decoded).map(([k, b]) => [k, Buffer.from(b)])),
          fields,
          v.comment,
        );
      }
    });

    it('envelope vectors: every invalid case is ERR_BAD_ENVELOPE', () => {
      assert.ok(envelopeVectors.invalid.length >= 30);
      for (const v of envelopeVectors.invalid) {
        assert.throws(
          () => backend.decodeEnvelope(hex(v.encoded)),
          (error: unknown) => error instanceof NetcryptError && error.code === 'ERR_BAD_ENVELOPE',
          v.comment,
        );
      }
    });

    it('refuses to encode out-of-range envelope fields', () => {
      const ok = { wrappedKey: new Uint8Array(256), iv: new Uint8Array(16), ciphertext: new Uint8Array(32), tag: new Uint8Array(32) };
      for (const bad of [
        { ...ok, wrappedKey: new Uint8Array(0) },
        { ...ok, wrappedKey: new Uint8Array(513) },
        { ...ok, iv: new Uint8Array(12) },
        { ...ok, ciphertext: new Uint8Array(33) },
        { ...ok, tag: new Uint8Array(64) },
      ]) {
        assert.throws(() => backend.encodeEnvelope(bad), { code: 'ERR_INVALID_ARGUMENT' });
      }
    });

    it('rejects keys and IVs of the wrong size as argument errors', () => {
      assert.throws(() => backend.seal(new Uint8Array(32), new Uint8Array(16), new Uint8Array(0), new Uint8Array(1)), {
        code: 'ERR_INVALID_ARGUMENT',
      });
      assert.throws(() => backend.seal(new Uint8Array(64), new Uint8Array(12), new Uint8Array(0), new Uint8Array(1)), {
        code: 'ERR_INVALID_ARGUMENT',
      });
    });

    it('gives the one uniform ERR_AUTH for impossible sealed lengths', () => {
      const key = new Uint8Array(64);
      const iv = new Uint8Array(16);
      for (const length of [0, 1, 31, 32, 47, 49, 63]) {
        assertAuthError(() => backend.open(key, iv, new Uint8Array(0), new Uint8Array(length)));
      }
    });

    it('gives the one uniform ERR_AUTH for a valid tag over bad padding', async () => {
      // Build ct‖tag whose tag is right but whose last block does not unpad:
      // only a key holder can do this, and it must still look like any other failure.
      const { createCipheriv, createHmac } = await import('node:crypto');
      const key = Buffer.alloc(64, 7);
      const iv = Buffer.alloc(16, 9);
      const cipher = createCipheriv('aes-256-cbc', key.subarray(32), iv).setAutoPadding(false);
      const ct = Buffer.concat([cipher.update(Buffer.alloc(32, 0xee)), cipher.final()]);
      const al = Buffer.alloc(8);
      const tag = createHmac('sha512', key.subarray(0, 32)).update(iv).update(ct).update(al).digest().subarray(0, 32);
      assertAuthError(() => backend.open(key, iv, new Uint8Array(0), Buffer.concat([ct, tag])));
    });
  });
}
