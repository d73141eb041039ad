/**
 * bench:channel's bare framing loop (bench/bare-records.ts) is an anchor
 * only if it does netcrypt's work: its frames must be records the library
 * opens, its receiver must take them in any split, and deliver nothing of a
 * record whose tag fails.
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { BareReceiver, BareSender, type BareSuite, bareKeyMaterial } from '../bench/bare-records.ts';
import { loadBackend } from '../src/backend/index.ts';
import { RecordOpener, SUITES } from '../src/wire/records.ts';

const SUITE_NAMES: BareSuite[] = ['a256gcm', 'a256cbc-hs512'];

function stream(suite: BareSuite, material: Buffer, records: Buffer[]): Buffer {
  const sender = new BareSender(suite, material);
  return Buffer.concat(records.flatMap((record) => sender.seal(record)));
}

for (const suite of SUITE_NAMES) {
  test(`bare ${suite}: the library's RecordOpener opens every frame`, async () => {
    const material = bareKeyMaterial(suite);
    const records = [randomBytes(65536), randomBytes(1), randomBytes(0), randomBytes(1000)];
    const bytes = stream(suite, material, records);
    const opener = new RecordOpener(await loadBackend('native'), SUITES[suite], material, false);
    let offset = 0;
    for (const record of records) {
      const length = bytes.readUInt32BE(offset);
      const { plaintext } = opener.open(bytes.subarray(offset + 4, offset + 4 + length));
      assert.deepEqual(Buffer.from(plaintext), record);
      offset += 4 + length;
    }
    assert.equal(offset, bytes.length);
  });

  test(`bare ${suite}: the receiver delivers the same records whatever the split`, () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1 }), (lengths, cuts) => {
        const material = bareKeyMaterial(suite);
        const records = lengths.map((n) => randomBytes(n));
        const bytes = stream(suite, material, records);
        const delivered: Buffer[] = [];
        const receiver = new BareReceiver(suite, material, 65536, (pieces) => delivered.push(Buffer.concat(pieces)));
        for (let offset = 0, i = 0; offset < bytes.length; i++) {
          const end = Math.min(bytes.length, offset + cuts[i % cuts.length]!);
          receiver.push(bytes.subarray(offset, end));
          offset = end;
        }
        assert.deepEqual(delivered, records);
      }),
      { numRuns: 60 },
    );
  });

  test(`bare ${suite}: a flipped bit anywhere in a record fails it and delivers none of it`, () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2000 }), fc.nat(), fc.integer({ min: 0, max: 7 }), (length, at, bit) => {
        const material = bareKeyMaterial(suite);
        const bytes = stream(suite, material, [randomBytes(length)]);
        const position = 4 + (at % (bytes.length - 4)); // past the length, which bounds rather than authenticates
        bytes[position]! ^= 1 << bit;
        const delivered: Buffer[] = [];
        const receiver = new BareReceiver(suite, material, 65536, (pieces) => delivered.push(...pieces));
        assert.throws(() => {
          for (let offset = 0; offset < bytes.length; offset += 100) receiver.push(bytes.subarray(offset, offset + 100));
        });
        assert.equal(delivered.length, 0);
      }),
      { numRuns: 60 },
    );
  });
}
