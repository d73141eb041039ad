/**
 * The seal side's buffer reuse: RecordSealer keeps one AAD and one nonce
 * buffer and rewrites them for every record, and sealInto() appends to the
 * caller's list. Whatever it hands out must stay as it was when later
 * records are sealed, and be exactly the bytes seal() and docs/PROTOCOL.md §3 give.
 */

import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { loadAllBackends } from './helpers/backends.ts';
import { MAX_RECORD_PLAINTEXT, RecordOpener, RecordSealer, RecordType, SUITES, type SuiteName, laneRecordType } from '../src/wire/records.ts';

const backends = await loadAllBackends();
const SUITE_NAMES: SuiteName[] = ['a256gcm', 'a256cbc-hs512'];

/** A deterministic IV source, so two sealers over the same steps produce the same bytes. */
function counterRandom(): (length: number) => Uint8Array {
  let n = 0;
  return (length) => Buffer.alloc(length, n++ & 0xff);
}

type Step = { kind: 'seal'; type: number; plaintext: Uint8Array } | { kind: 'update' };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('seal' as const),
      type: fc.constantFrom(laneRecordType(0, false), laneRecordType(1, true), RecordType.PING, RecordType.CLOSE),
      plaintext: fc.oneof(fc.uint8Array({ maxLength: 100 }), fc.constantFrom(0, 1, 15, 16, 17, MAX_RECORD_PLAINTEXT - 1, MAX_RECORD_PLAINTEXT).map((n) => randomBytes(n))),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'update' as const }) },
);

describe('record sealer', () => {
  for (const backend of backends) {
    for (const suiteName of SUITE_NAMES) {
      const suite = SUITES[suiteName];
      it(`${backend.name} ${suiteName}: sealInto appends what seal returns, and nothing handed out changes later`, () => {
        fc.assert(
          fc.property(fc.array(stepArb, { minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 5 }), (steps, records) => {
            const material = randomBytes(suite.keyMaterialBytes);
            // A low record limit makes the automatic KEY_UPDATE go first inside sealInto() too.
            const policy = { records, bytes: 2 ** 34 };
            const into = new RecordSealer(backend, suite, material, counterRandom(), policy);
            const whole = new RecordSealer(backend, suite, material, counterRandom(), policy);
            const out: Uint8Array[] = [];
            const copies: Buffer[] = [];
            for (const step of steps) {
              const before = out.length;
              const expected = step.kind === 'update' ? whole.updateKey() : whole.seal(step.type, step.plaintext);
              const appended = step.kind === 'update' ? into.updateKeyInto(out) : into.sealInto(step.type, step.plaintext, out);
              const added = out.slice(before);
              assert.equal(appended, added.reduce((sum, piece) => sum + piece.length, 0));
              assert.ok(Buffer.concat(added).equals(Buffer.concat(expected)));
              copies.push(Buffer.concat(added));
            }
            // Every buffer handed out is still the bytes it was when it was handed out.
            assert.ok(Buffer.concat(out).equals(Buffer.concat(copies)));
            // And the peer opens every record, in order.
            const opener = new RecordOpener(backend, suite, material, true);
            const bytes = Buffer.concat(out);
            let offset = 0;
            while (offset < bytes.length) {
              const length = bytes.readUInt32BE(offset);
              opener.open(bytes.subarray(offset + 4, offset + 4 + length));
              offset += 4 + length;
            }
          }),
          { numRuns: 40 },
        );
      });
    }

    it(`${backend.name}: a256gcm nonces are IV XOR sequence for every record of a run, none repeated`, () => {
      const material = randomBytes(44);
      const sealer = new RecordSealer(backend, SUITES.a256gcm, material, counterRandom());
      const type = laneRecordType(0, false);
      const plaintext = randomBytes(64);
      const out: Uint8Array[] = [];
      const heads: number[] = [];
      for (let sequence = 0; sequence < 300; sequence++) {
        heads.push(out.length);
        sealer.sealInto(type, plaintext, out);
      }
      const tags = new Set<string>();
      for (let sequence = 0; sequence < 300; sequence++) {
        const frame = Buffer.concat(out.slice(heads[sequence], heads[sequence + 1] ?? out.length));
        const nonce = Buffer.from(material.subarray(32));
        nonce.writeBigUInt64BE(nonce.readBigUInt64BE(4) ^ BigInt(sequence), 4);
        const aad = Buffer.alloc(9);
        aad.writeBigUInt64BE(BigInt(sequence));
        aad[8] = type;
        const cipher = createCipheriv('aes-256-gcm', material.subarray(0, 32), nonce).setAAD(aad);
        const expected = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
        assert.ok(frame.subarray(5).equals(expected), `record ${sequence}`);
        tags.add(frame.subarray(frame.length - 16).toString('hex'));
      }
      assert.equal(tags.size, 300);
    });
  }
});
