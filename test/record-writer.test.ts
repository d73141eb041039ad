/** The sans-I/O record writer against the receive side: whatever it is asked to send, the assembler rebuilds exactly that. */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createNativeBackend } from '../src/backend/native.ts';
import { FrameDecoder } from '../src/wire/frames.ts';
import { BATCH_ITEM_MAX, MessageAssembler } from '../src/wire/messages.ts';
import { RecordWriter } from '../src/wire/record-writer.ts';
import { MAX_RECORD_PLAINTEXT, RecordOpener, RecordSealer, RecordType, SUITES, type SuiteName, parseRecordType, systemRandom } from '../src/wire/records.ts';

const backend = createNativeBackend();

type Step =
  | { kind: 'send'; lane: number; message: Uint8Array; room: number }
  | { kind: 'tick' }
  | { kind: 'take' }
  | { kind: 'key-update' };

const messageArb = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 80 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 * MAX_RECORD_PLAINTEXT + 7 }).map((n) => randomBytes(n)) },
  // Right at the batch boundary, and messages that fill a batch record to the last byte.
  { weight: 1, arbitrary: fc.constantFrom(BATCH_ITEM_MAX - 1, BATCH_ITEM_MAX, BATCH_ITEM_MAX + 1, MAX_RECORD_PLAINTEXT - 4).map((n) => randomBytes(n)) },
);

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('send' as const), lane: fc.integer({ min: 0, max: 2 }), message: messageArb, room: fc.integer({ min: -1, max: 300_000 }) }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'tick' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'take' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'key-update' as const }) },
);

/** Drives the writer as the channel does: a small message joins the batch, a large one is sealed in runs of `room`. */
function write(writer: RecordWriter, steps: Step[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const step of steps) {
    if (step.kind === 'tick') writer.sealBatch();
    else if (step.kind === 'take') out.push(...writer.take());
    else if (step.kind === 'key-update') writer.sealKeyUpdate();
    else if (step.message.length <= BATCH_ITEM_MAX) {
      if (!writer.addToBatch(step.lane, step.message)) {
        writer.sealBatch();
        assert.ok(writer.addToBatch(step.lane, step.message), 'a fresh batch takes any small message');
      }
    } else {
      let offset = 0;
      while (offset < step.message.length) {
        const next = writer.sealFragments(step.lane, step.message, offset, step.room);
        assert.ok(next > offset && (next === step.message.length || next % MAX_RECORD_PLAINTEXT === 0));
        offset = next;
      }
    }
  }
  writer.sealClose();
  out.push(...writer.take());
  return out;
}

/** The receive side of the channel, record by record, in chunks of the given sizes. */
function read(suite: SuiteName, material: Buffer, bytes: Buffer, chunkSizes: number[]) {
  const decoder = new FrameDecoder(SUITES[suite].maxFrameBytes);
  const opener = new RecordOpener(backend, SUITES[suite], material, true);
  const assembler = new MessageAssembler(1 << 20);
  const messages: { lane: number; message: Buffer }[] = [];
  let closed = false;
  let keyUpdates = 0;
  let offset = 0;
  for (let i = 0; offset < bytes.length; i++) {
    const size = Math.max(1, chunkSizes[i % Math.max(1, chunkSizes.length)] ?? bytes.length);
    decoder.push(bytes.subarray(offset, offset + size));
    offset += size;
    // As the channel reads: frames in the pieces they arrived in, opened and assembled without joining them.
    for (let frame = decoder.nextPieces(); frame; frame = decoder.nextPieces()) {
      assert.ok(!closed, 'nothing after CLOSE');
      const { type, plaintext } = opener.openPieces(frame);
      const record = parseRecordType(type)!;
      if (record.kind === 'close') closed = true;
      else if (record.kind === 'key-update') keyUpdates++;
      else if (record.kind === 'fragment' || record.kind === 'batch') {
        const pieces = plaintext.map((piece) => Buffer.from(piece.buffer, piece.byteOffset, piece.length));
        for (const message of assembler.push(record, pieces)) messages.push({ lane: record.lane, message: Buffer.from(message) });
      } else assert.fail(`unexpected record ${type}`);
    }
  }
  assert.equal(decoder.bufferedBytes, 0);
  assert.equal(assembler.heldBytes, 0, 'no message left half-sent');
  return { messages, closed, keyUpdates };
}

describe('record writer (sans-I/O)', () => {
  for (const suite of ['a256gcm', 'a256cbc-hs512'] as const) {
    it(`${suite}: any sequence of messages comes back whole, in order, on its lane`, () => {
      fc.assert(
        fc.property(fc.array(stepArb, { maxLength: 30 }), fc.array(fc.integer({ min: 1, max: 100_000 }), { maxLength: 5 }), fc.integer({ min: 1, max: 40 }), (steps, chunks, records) => {
          const material = randomBytes(SUITES[suite].keyMaterialBytes);
          const writer = new RecordWriter(new RecordSealer(backend, SUITES[suite], material, systemRandom(), { records, bytes: 2 ** 34 }));
          const sent = steps.flatMap((step) => (step.kind === 'send' ? [{ lane: step.lane, message: Buffer.from(step.message) }] : []));
          const { messages, closed } = read(suite, material, Buffer.concat(write(writer, steps)), chunks);
          assert.deepEqual(messages, sent);
          assert.ok(closed);
          assert.equal(writer.batchedBytes, 0);
          assert.equal(writer.outputBytes, 0);
        }),
        { numRuns: suite === 'a256gcm' ? 150 : 60 },
      );
    });
  }

  it('a batch copies its messages: the caller may reuse its buffer at once', () => {
    const material = randomBytes(44);
    const writer = new RecordWriter(new RecordSealer(backend, SUITES.a256gcm, material, systemRandom()));
    const scratch = Buffer.from('first');
    writer.addToBatch(0, scratch);
    scratch.write('later');
    writer.addToBatch(0, scratch);
    assert.equal(writer.batchedBytes, 10);
    writer.sealClose();
    const { messages } = read('a256gcm', material, Buffer.concat(writer.take()), []);
    assert.deepEqual(
      messages.map((m) => m.message.toString()),
      ['first', 'later'],
    );
  });

  it('refuses to join a batch of another lane, and a full one, without adding anything', () => {
    const writer = new RecordWriter(new RecordSealer(backend, SUITES.a256gcm, randomBytes(44), systemRandom()));
    assert.ok(writer.addToBatch(1, new Uint8Array(BATCH_ITEM_MAX)));
    assert.equal(writer.addToBatch(0, new Uint8Array(1)), false);
    for (let i = 0; i < 2; i++) assert.ok(writer.addToBatch(1, new Uint8Array(BATCH_ITEM_MAX)));
    // Four entries of 16 KiB and their lengths would pass 64 KiB.
    assert.equal(writer.addToBatch(1, new Uint8Array(BATCH_ITEM_MAX)), false);
    assert.equal(writer.batchedBytes, 3 * BATCH_ITEM_MAX);
    assert.equal(writer.outputBytes, 0, 'nothing sealed until asked');
    assert.throws(() => writer.addToBatch(0, new Uint8Array(BATCH_ITEM_MAX + 1)), RangeError);
    assert.throws(() => writer.sealFragments(0, new Uint8Array(BATCH_ITEM_MAX), 0, 0), RangeError);
  });

  it('CLOSE and KEY_UPDATE are sealed after the batch opened before them', () => {
    const material = randomBytes(44);
    const writer = new RecordWriter(new RecordSealer(backend, SUITES.a256gcm, material, systemRandom(), { records: 1000, bytes: 2 ** 34 }));
    writer.addToBatch(0, Buffer.from('before the update'));
    writer.sealKeyUpdate();
    writer.addToBatch(0, Buffer.from('before the close'));
    writer.sealClose();
    const frames = Buffer.concat(writer.take());
    const types: number[] = [];
    const decoder = new FrameDecoder(1 << 17);
    const opener = new RecordOpener(backend, SUITES.a256gcm, material, true);
    decoder.push(frames);
    for (let frame = decoder.next(); frame; frame = decoder.next()) types.push(opener.open(frame).type);
    assert.deepEqual(types, [RecordType.BATCH, RecordType.KEY_UPDATE, RecordType.BATCH, RecordType.CLOSE]);
  });

  it('PING and PONG are sealed after the batch opened before them, each with its 8 bytes', () => {
    const material = randomBytes(44);
    const writer = new RecordWriter(new RecordSealer(backend, SUITES.a256gcm, material, systemRandom()));
    writer.addToBatch(0, Buffer.from('before the ping'));
    writer.sealPing(Buffer.from('pingpin1'));
    writer.addToBatch(0, Buffer.from('before the pong'));
    writer.sealPong(Buffer.from('pongpon2'));
    const decoder = new FrameDecoder(1 << 17);
    const opener = new RecordOpener(backend, SUITES.a256gcm, material, true);
    decoder.push(Buffer.concat(writer.take()));
    const records: [number, string][] = [];
    for (let frame = decoder.next(); frame; frame = decoder.next()) {
      const { type, plaintext } = opener.open(frame);
      records.push([type, Buffer.from(plaintext).toString('latin1')]);
    }
    assert.deepEqual(records.map(([type]) => type), [RecordType.BATCH, RecordType.PING, RecordType.BATCH, RecordType.PONG]);
    assert.deepEqual([records[1]![1], records[3]![1]], ['pingpin1', 'pongpon2']);
  });

  it('discardBatch() drops the open batch unsealed', () => {
    const writer = new RecordWriter(new RecordSealer(backend, SUITES.a256gcm, randomBytes(44), systemRandom()));
    writer.addToBatch(0, Buffer.from('never sent'));
    writer.discardBatch();
    assert.equal(writer.batchedBytes, 0);
    assert.equal(writer.sealBatch(), 0);
    assert.deepEqual(writer.take(), []);
  });
});
