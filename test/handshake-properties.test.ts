/** fast-check over the sans-I/O cores: frame decoder, handshake and record decoders. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { loadBackend } from '../src/backend/index.ts';
import { NetcryptError } from '../src/errors.ts';
import { Handshake } from '../src/handshake/handshake.ts';
import { FrameDecoder, encodeFrame } from '../src/wire/frames.ts';
import { decodeHello, decodeKeyMessage } from '../src/wire/handshake-messages.ts';
import { RecordOpener, RecordSealer, SUITES, laneRecordType, systemRandom } from '../src/wire/records.ts';
import { testIdentities } from './helpers/identities.ts';

const backend = await loadBackend('native');
const [a, b] = await testIdentities();

const onlyNetcryptErrors = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof NetcryptError, `threw ${String(error)}`);
  }
};

describe('sans-I/O properties', () => {
  it('the frame decoder returns the same frames however the bytes are split', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 20 }), (payloads, cuts) => {
        const stream = Buffer.concat(payloads.map((p) => encodeFrame(p)));
        const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((x, y) => x - y);
        const decoder = new FrameDecoder(1000);
        const out: Buffer[] = [];
        let last = 0;
        for (const point of [...points, stream.length]) {
          decoder.push(stream.subarray(last, point));
          last = point;
          for (let f = decoder.next(); f; f = decoder.next()) out.push(Buffer.from(f));
        }
        assert.deepEqual(out, payloads.map((p) => Buffer.from(p)));
        assert.equal(decoder.bufferedBytes, 0);
      }),
    );
  });

  it('nextPieces(): the same frames as views of the chunks they arrived in, however the bytes are split', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 30 }), (payloads, cuts) => {
        const stream = Buffer.concat(payloads.map((p) => encodeFrame(p)));
        const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((x, y) => x - y);
        const decoder = new FrameDecoder(4000);
        const out: Buffer[] = [];
        let last = 0;
        for (const point of [...points, stream.length]) {
          decoder.push(stream.subarray(last, point));
          last = point;
          for (let f = decoder.nextPieces(); f; f = decoder.nextPieces()) {
            assert.ok(f.every((piece) => piece.length > 0));
            out.push(Buffer.concat(f));
          }
        }
        assert.deepEqual(out, payloads.map((p) => Buffer.from(p)));
        assert.equal(decoder.bufferedBytes, 0);
      }),
    );
  });

  it('the frame decoder refuses any length above its limit from the header alone', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1001, max: 0xffffffff }), (length) => {
        const decoder = new FrameDecoder(1000);
        const header = Buffer.alloc(4);
        header.writeUInt32BE(length);
        decoder.push(header);
        assert.throws(() => decoder.next(), { code: 'ERR_FRAME_TOO_LARGE' });
      }),
    );
  });

  it('hello and key decoders: arbitrary bytes give a message or a NetcryptError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), (bytes) => {
        onlyNetcryptErrors(() => decodeHello(bytes));
        onlyNetcryptErrors(() => decodeKeyMessage(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it('a handshake fed arbitrary or mutated frames fails only with NetcryptErrors', () => {
    const realHello = Buffer.from(new Handshake({ role: 'server', identity: b!, backend }).start()[0]!).subarray(4);
    const mutatedHello = fc
      .tuple(fc.nat(), fc.integer({ min: 0, max: 255 }))
      .map(([at, value]) => {
        const copy = Buffer.from(realHello);
        copy[at % copy.length] = value;
        return copy;
      });
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 600 }), mutatedHello), { minLength: 1, maxLength: 3 }), (inputs) => {
        const handshake = new Handshake({ role: 'client', identity: a!, backend });
        handshake.start();
        for (const input of inputs) {
          try {
            handshake.receive(input);
            if (handshake.state === 'await-trust') {
              handshake.acceptPeer();
              handshake.receiveQueued();
            }
          } catch (error) {
            assert.ok(error instanceof NetcryptError, `threw ${String(error)}`);
            assert.equal(handshake.state, 'failed');
            return;
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the record opener accepts exactly the sealed records, in order, and ERR_AUTH for anything else (both suites)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...Object.values(SUITES)), fc.array(fc.uint8Array({ maxLength: 200 }), { minLength: 1, maxLength: 5 }), fc.uint8Array({ maxLength: 300 }), (suite, messages, junk) => {
        const key = Buffer.alloc(suite.keyMaterialBytes, 3);
        const sealer = new RecordSealer(backend, suite, key, systemRandom());
        const opener = new RecordOpener(backend, suite, key, false);
        for (const message of messages) {
          const payload = Buffer.concat(sealer.seal(laneRecordType(0, true), message)).subarray(4);
          assert.deepEqual(Buffer.from(opener.open(payload).plaintext), Buffer.from(message));
        }
        assert.throws(() => opener.open(junk), { code: 'ERR_AUTH' });
      }),
      { numRuns: 300 },
    );
  });
});
