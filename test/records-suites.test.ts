/** Both record suites and the key ratchet, checked against docs/PROTOCOL.md §3 recomputed with node:crypto alone. */

import assert from 'node:assert/strict';
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { loadAllBackends } from './helpers/backends.ts';
import { RecordOpener, RecordSealer, RecordType, SUITES, hkdfExpandSha256, laneRecordType, systemRandom } from '../src/wire/records.ts';

const backends = await loadAllBackends();
const LABEL = Buffer.from('netcrypt/1 key update');

function aad(sequence: number, type: number): Buffer {
  const out = Buffer.alloc(9);
  out.writeBigUInt64BE(BigInt(sequence));
  out[8] = type;
  return out;
}

/** The a256gcm record payload exactly as §3 defines it. */
function gcmRecord(material: Buffer, sequence: number, type: number, plaintext: Buffer): Buffer {
  const nonce = Buffer.from(material.subarray(32));
  nonce.writeBigUInt64BE(nonce.readBigUInt64BE(4) ^ BigInt(sequence), 4);
  const cipher = createCipheriv('aes-256-gcm', material.subarray(0, 32), nonce);
  cipher.setAAD(aad(sequence, type));
  return Buffer.concat([Buffer.from([type]), cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/** RFC 5869 §2.3 written out: T(1) = HMAC(PRK, info ‖ 01), T(2) = HMAC(PRK, T(1) ‖ info ‖ 02). */
function expand(prk: Buffer, length: number): Buffer {
  const t1 = createHmac('sha256', prk).update(Buffer.concat([LABEL, Buffer.from([1])])).digest();
  const t2 = createHmac('sha256', prk).update(Buffer.concat([t1, LABEL, Buffer.from([2])])).digest();
  return Buffer.concat([t1, t2]).subarray(0, length);
}

const payload = (frame: Uint8Array[]) => Buffer.concat(frame).subarray(4);

describe('record suites', () => {
  it('HKDF-Expand matches RFC 5869 test case 1', () => {
    const prk = Buffer.from('077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5', 'hex');
    const okm = hkdfExpandSha256(prk, Buffer.from('f0f1f2f3f4f5f6f7f8f9', 'hex'), 42);
    assert.equal(okm.toString('hex'), '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');
  });

  for (const backend of backends) {
    it(`${backend.name}: a256gcm records and a KEY_UPDATE are exactly the bytes §3 defines`, () => {
      const material = randomBytes(44);
      const sealer = new RecordSealer(backend, SUITES.a256gcm, material, systemRandom(), { records: 1000, bytes: 2 ** 34 });
      const type = laneRecordType(0, true);
      for (let sequence = 0; sequence < 3; sequence++) {
        const plaintext = randomBytes(sequence * 1000);
        assert.ok(payload(sealer.seal(type, plaintext)).equals(gcmRecord(material, sequence, type, plaintext)));
      }
      assert.ok(payload(sealer.updateKey()).equals(gcmRecord(material, 3, RecordType.KEY_UPDATE, Buffer.alloc(0))));
      const next = expand(material, 44);
      assert.ok(payload(sealer.seal(type, Buffer.from('after'))).equals(gcmRecord(next, 0, type, Buffer.from('after'))));
    });

    it(`${backend.name}: a256cbc-hs512 ratchets the 64-byte key the same way`, () => {
      const material = randomBytes(64);
      const sealer = new RecordSealer(backend, SUITES['a256cbc-hs512'], material, systemRandom(), { records: 1000, bytes: 2 ** 34 });
      sealer.seal(RecordType.FINISHED, randomBytes(32));
      sealer.updateKey();
      const record = payload(sealer.seal(RecordType.CLOSE, Buffer.alloc(0)));
      const opened = backend.open(expand(material, 64), record.subarray(1, 17), aad(0, RecordType.CLOSE), record.subarray(17));
      assert.equal(opened.length, 0);
    });
  }

  it('the sealer updates by itself past its record limit, and an opener follows any mix of records and updates', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...Object.values(SUITES)),
        fc.constantFrom(...backends),
        fc.constantFrom(...backends),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.constant('update' as const)), { maxLength: 30 }),
        (suite, sealing, opening, records, steps) => {
          const material = randomBytes(suite.keyMaterialBytes);
          const sealer = new RecordSealer(sealing, suite, material, systemRandom(), { records, bytes: 2 ** 34 });
          const opener = new RecordOpener(opening, suite, material, true);
          const frames: Buffer[] = [];
          let updates = 0;
          for (const step of steps) {
            const out = step === 'update' ? sealer.updateKey() : sealer.seal(laneRecordType(0, true), step);
            const decoder = Buffer.concat(out);
            for (let at = 0; at < decoder.length; at += 4 + decoder.readUInt32BE(at)) frames.push(decoder.subarray(at + 4, at + 4 + decoder.readUInt32BE(at)));
          }
          const delivered: Buffer[] = [];
          for (const frame of frames) {
            const { type, plaintext } = opener.open(frame);
            if (type === RecordType.KEY_UPDATE) updates++;
            else delivered.push(Buffer.from(plaintext));
          }
          const sent = steps.filter((step) => step !== 'update').map((step) => Buffer.from(step));
          assert.deepEqual(delivered, sent);
          // Never more than `records` records under one key before an update.
          assert.ok(updates >= Math.floor(sent.length / (records + 1)));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('a dropped or replayed KEY_UPDATE, and a KEY_UPDATE where none was negotiated, are refused', () => {
    for (const suite of Object.values(SUITES)) {
      const material = randomBytes(suite.keyMaterialBytes);
      const sealer = new RecordSealer(backends[0]!, suite, material, systemRandom(), { records: 1000, bytes: 2 ** 34 });
      const update = payload(sealer.updateKey());
      const after = payload(sealer.seal(laneRecordType(0, true), Buffer.from('x')));
      assert.throws(() => new RecordOpener(backends[0]!, suite, material, true).open(after), { code: 'ERR_AUTH' });
      const replaying = new RecordOpener(backends[0]!, suite, material, true);
      replaying.open(update);
      assert.throws(() => replaying.open(update), { code: 'ERR_AUTH' });
      assert.throws(() => new RecordOpener(backends[0]!, suite, material, false).open(update), { code: 'ERR_PROTOCOL' });
      assert.throws(() => new RecordSealer(backends[0]!, suite, material, systemRandom()).updateKey(), { code: 'ERR_PROTOCOL' });
    }
  });
});
