/**
 * The opener's per-record shortcuts: the sequence bytes it writes into its
 * reused AAD and nonce, and the record-type table, each against an
 * independent reading of docs/PROTOCOL.md §3.
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { LANE_COUNT, RecordOpener, RecordSealer, RecordType, SUITES, parseRecordType, laneRecordType, systemRandom, writeSequence, xorSequence } from '../src/wire/records.ts';
import { loadBackend } from '../src/backend/index.ts';

describe('records: sequence bytes', () => {
  it('writeSequence writes the 64-bit big-endian sequence, over the whole safe range', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.nat(8), (sequence, offset) => {
        const target = randomBytes(offset + 8 + 3);
        const expected = Buffer.from(target);
        expected.writeBigUInt64BE(BigInt(sequence), offset);
        writeSequence(target, offset, sequence);
        assert.deepEqual(target, expected);
      }),
    );
  });

  it('xorSequence XORs it into an IV as RFC 8446 §5.3 forms the nonce', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.uint8Array({ minLength: 12, maxLength: 12 }), (sequence, iv) => {
        const nonce = Buffer.from(iv);
        const expected = Buffer.from(iv);
        expected.writeBigUInt64BE(expected.readBigUInt64BE(4) ^ BigInt(sequence), 4);
        xorSequence(nonce, 4, sequence);
        assert.deepEqual(nonce, expected);
      }),
    );
  });
});

describe('records: parseRecordType', () => {
  it('classifies every type byte as §3 lists them, and refuses the rest', () => {
    const control: Record<number, string> = {
      [RecordType.FINISHED]: 'finished',
      [RecordType.CLOSE]: 'close',
      [RecordType.ALERT]: 'alert',
      [RecordType.KEY_UPDATE]: 'key-update',
      [RecordType.PING]: 'ping',
      [RecordType.PONG]: 'pong',
    };
    for (let type = 0; type < 256; type++) {
      let expected: unknown = null;
      if (control[type]) expected = { kind: control[type] };
      else if (type >= 0x10 && type < 0x10 + 2 * LANE_COUNT) expected = { kind: 'fragment', lane: (type - 0x10) >> 1, final: (type & 1) === 1 };
      else if (type >= 0x20 && type < 0x20 + LANE_COUNT) expected = { kind: 'batch', lane: type - 0x20 };
      assert.deepEqual(parseRecordType(type), expected, `type 0x${type.toString(16)}`);
    }
    for (const outside of [-1, 256, 0.5, Number.NaN]) assert.equal(parseRecordType(outside), null);
  });
});

describe('records: one opener, many records', () => {
  it('opens long runs of records of both suites with its reused AAD and nonce, and still refuses a replay', async () => {
    const backend = await loadBackend('native');
    for (const suite of [SUITES.a256gcm, SUITES['a256cbc-hs512']]) {
      const material = randomBytes(suite.keyMaterialBytes);
      const sealer = new RecordSealer(backend, suite, material, systemRandom());
      const opener = new RecordOpener(backend, suite, material, false);
      const frames: { type: number; plaintext: Buffer; payload: Buffer }[] = [];
      for (let i = 0; i < 300; i++) {
        const plaintext = randomBytes(i % 7 === 0 ? 0 : (i * 97) % 3000);
        const type = laneRecordType(i % LANE_COUNT, i % 2 === 0);
        frames.push({ type, plaintext, payload: Buffer.concat(sealer.seal(type, plaintext)).subarray(4) });
      }
      for (const { type, plaintext, payload } of frames) {
        const split = Math.min(payload.length, 1 + (payload.length >> 1));
        const opened = opener.openPieces([payload.subarray(0, split), payload.subarray(split)]);
        assert.equal(opened.type, type);
        assert.deepEqual(Buffer.concat(opened.plaintext), plaintext);
      }
      assert.throws(() => opener.openPieces([frames.at(-1)!.payload]), { code: 'ERR_AUTH' });
    }
  });
});
