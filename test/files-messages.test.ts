/** The file-control codec: one byte form per message, strict UTF-8, caps before decoding, only ERR_PROTOCOL. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { ErrorCode, isNetcryptError } from '../src/errors.ts';
import {
  type ControlMessage,
  type Entry,
  MAX_CONTROL_MESSAGE_BYTES,
  MAX_SMALL_CONTROL_BYTES,
  decodeControl,
  encodeControl,
} from '../src/files/file-messages.ts';

const isProtocolError = (error: unknown) => isNetcryptError(error, ErrorCode.PROTOCOL);
const refused = (bytes: Uint8Array) => assert.throws(() => decodeControl(bytes), isProtocolError);

const count = fc.maxSafeNat();
const id = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const index = fc.integer({ min: 0, max: 99_999 });
const digest = fc.uint8Array({ minLength: 32, maxLength: 32 });
const name = fc.string({ unit: 'grapheme', maxLength: 20 });
const path = fc.array(name, { maxLength: 4 });
const mode = fc.integer({ min: 0, max: 0o7777 });
const entry: fc.Arbitrary<Entry> = fc.oneof(
  fc.record({ type: fc.constant('file' as const), path, size: count, mode, mtime: fc.integer({ min: -8.64e15, max: 8.64e15 }) }),
  fc.record({ type: fc.constant('dir' as const), path, mode }),
);
const code = fc.constantFrom(...Object.values(ErrorCode));
// Failure texts are sent with control characters replaced (tested below), so generate texts without them.
const text = fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !/[\p{Cc}\p{Bidi_Control}]/u.test(s));

const message: fc.Arbitrary<ControlMessage> = fc.oneof(
  fc.record({ t: fc.constant('manifest' as const), id, entries: fc.array(entry, { maxLength: 5 }) }),
  fc.record({ t: fc.constant('start' as const), id, index, offset: count }),
  fc.record({ t: fc.constant('end' as const), id, index, sha256: digest }),
  fc.record({ t: fc.constant('send-failed' as const), id, code, message: text }),
  fc.record({ t: fc.constant('want' as const), id, index, offset: count, nonce: digest, prefix: digest, credit: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }) }),
  fc.record({ t: fc.constant('credit' as const), id, bytes: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }) }),
  fc.record({ t: fc.constant('done' as const), id }),
  fc.record({ t: fc.constant('receive-failed' as const), id, code, message: text }),
);

/** A valid message with some bytes changed, inserted or removed. */
const mutated = fc
  .tuple(message, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')), { minLength: 1, maxLength: 4 }))
  .map(([m, edits]) => {
    const bytes = [...encodeControl(m)];
    for (const [at, value, op] of edits) {
      const i = at % (bytes.length + 1);
      if (op === 'set' && i < bytes.length) bytes[i] = value;
      else if (op === 'insert') bytes.splice(i, 0, value);
      else bytes.splice(i, 1);
    }
    return Uint8Array.from(bytes);
  });

/** Decodes `bytes`; an acceptance must re-encode to exactly `bytes`, a refusal must be ERR_PROTOCOL. */
function decodeOrRefuse(bytes: Uint8Array): void {
  let decoded: ControlMessage;
  try {
    decoded = decodeControl(bytes);
  } catch (error) {
    assert.ok(isProtocolError(error), `threw ${String(error)}`);
    return;
  }
  assert.deepEqual(encodeControl(decoded), bytes);
}

const plain = (m: ControlMessage) => JSON.parse(JSON.stringify(m, (_, v) => (v instanceof Uint8Array ? [...v] : v)));

describe('file control messages', () => {
  it('decode(encode(x)) is x for every message', () => {
    fc.assert(fc.property(message, (m) => assert.deepEqual(plain(decodeControl(encodeControl(m))), plain(m))), { numRuns: 500 });
  });

  it('accept only their one byte form and refuse everything else with ERR_PROTOCOL', () => {
    fc.assert(fc.property(mutated, decodeOrRefuse), { numRuns: 3000 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), decodeOrRefuse), { numRuns: 3000 });
  });

  it('send a failure text safe and short, and refuse one that is not', () => {
    const sent = decodeControl(encodeControl({ t: 'send-failed', id: 1, code: ErrorCode.FILE_IO, message: `a\u0000b\u202ec\n${'é'.repeat(2000)}` }));
    assert.ok(sent.t === 'send-failed');
    assert.ok(sent.message.startsWith('a?b?c?éé'));
    assert.ok(Buffer.byteLength(sent.message) <= 1024 && Buffer.byteLength(sent.message) >= 1023);
    for (const bad of ['\u0000', '\u001b[2J', '\u202e', '\n']) {
      refused(encode({ t: 'receive-failed', id: 1, code: ErrorCode.FILE_IO, message: `x${bad}y` }));
    }
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 1500 }), (message) => {
        const bytes = encodeControl({ t: 'receive-failed', id: 1, code: ErrorCode.FILE_IO, message });
        assert.deepEqual(encodeControl(decodeControl(bytes)), bytes);
      }),
      { numRuns: 500 },
    );
  });

  it('write what @msgpack/msgpack writes for the same fields in schema order', () => {
    // An independent encoder agrees on integers, strings, bins and headers (and never writes a float here).
    fc.assert(fc.property(message, (m) => assert.deepEqual(encodeControl(m), encode(m))), { numRuns: 500 });
  });

  it('refuse reordered, missing, unknown and repeated keys', () => {
    refused(encode({ id: 1, t: 'done' }));
    refused(encode({ t: 'done' }));
    refused(encode({ t: 'done', id: 1, extra: 1 }));
    refused(Uint8Array.of(0x83, 0xa1, 0x74, 0xa4, ...Buffer.from('done'), 0xa2, 0x69, 0x64, 0x01, 0xa2, 0x69, 0x64, 0x01));
    refused(encode({ t: 'credit', id: 1, bytes: 0 }));
  });

  it('refuse longer encodings of the same values', () => {
    const done = [0x82, 0xa1, 0x74, 0xa4, ...Buffer.from('done'), 0xa2, 0x69, 0x64];
    assert.equal(decodeControl(Uint8Array.of(...done, 0x05)).id, 5);
    refused(Uint8Array.of(...done, 0xcc, 0x05)); // uint8 for a fixint
    refused(Uint8Array.of(...done, 0xcd, 0x00, 0x05));
    refused(Uint8Array.of(...done, 0xd0, 0x05)); // int8 for a positive value
    refused(Uint8Array.of(...done, 0xcb, 0x40, 0x14, 0, 0, 0, 0, 0, 0)); // float64 5.0
    refused(Uint8Array.of(0xde, 0x00, 0x02, ...done.slice(1), 0x05)); // map16 for a fixmap
    refused(Uint8Array.of(0x82, 0xd9, 0x01, 0x74, ...done.slice(3), 0x05)); // str8 for a fixstr key
    refused(Uint8Array.of(...done, 0x05, 0x00)); // trailing byte
  });

  it('never write a float: mtime and every count are integers', () => {
    const file: Entry = { type: 'file', path: ['a'], size: 1, mode: 0o644, mtime: 1.5 };
    assert.throws(() => encodeControl({ t: 'manifest', id: 1, entries: [file] }), RangeError);
    assert.throws(() => encodeControl({ t: 'credit', id: 1, bytes: Number.NaN }), RangeError);
  });

  it('refuse invalid UTF-8 in names instead of rewriting it', () => {
    const manifest = (component: number[]) =>
      Uint8Array.of(
        ...[0x83, 0xa1, 0x74, 0xa8, ...Buffer.from('manifest'), 0xa2, 0x69, 0x64, 0x01, 0xa7, ...Buffer.from('entries'), 0x91],
        ...[0x83, 0xa4, ...Buffer.from('type'), 0xa3, ...Buffer.from('dir'), 0xa4, ...Buffer.from('path'), 0x91, 0xa0 | component.length, ...component],
        ...[0xa4, ...Buffer.from('mode'), 0x00],
      );
    assert.deepEqual(decodeControl(manifest([0x61, 0x62])), { t: 'manifest', id: 1, entries: [{ type: 'dir', path: ['ab'], mode: 0 }] });
    refused(manifest([0x61, 0xff])); // lenient decoding made "aÿ" of this
    refused(manifest([0xc1, 0xb8])); // overlong "x"
    refused(manifest([0xe0, 0x80, 0xaf])); // overlong "/"
    refused(manifest([0xed, 0xa0, 0x80])); // a UTF-16 surrogate
    refused(manifest([0xf4, 0x90, 0x80, 0x80])); // beyond U+10FFFF
    // A byte order mark is text like any other, kept for the name checks to judge.
    const bom = decodeControl(manifest([0xef, 0xbb, 0xbf, 0x61])) as { entries: Entry[] };
    assert.deepEqual(bom.entries[0]!.path, ['\uFEFFa']);
  });

  it('refuse a message above its byte cap before decoding its fields', () => {
    const long = encodeControl({ t: 'send-failed', id: 1, code: ErrorCode.FILE_IO, message: 'x'.repeat(1024) });
    assert.ok(long.length <= MAX_SMALL_CONTROL_BYTES);
    refused(Uint8Array.of(...long.subarray(0, -1), 0x78, ...new Uint8Array(MAX_SMALL_CONTROL_BYTES)));
    // A manifest may be no longer than its entry count allows.
    const one = encodeControl({ t: 'manifest', id: 1, entries: [{ type: 'dir', path: ['d'], mode: 0 }] });
    refused(Uint8Array.of(...one, ...new Uint8Array(5000)));
    refused(new Uint8Array(MAX_CONTROL_MESSAGE_BYTES + 1));
  });

  it('refuse a manifest whose entry count exceeds what its bytes could hold', () => {
    const head = [0x83, 0xa1, 0x74, 0xa8, ...Buffer.from('manifest'), 0xa2, 0x69, 0x64, 0x01, 0xa7, ...Buffer.from('entries')];
    refused(Uint8Array.of(...head, 0xdd, 0x00, 0x01, 0x86, 0xa0)); // 100 000 entries declared, none present
    refused(Uint8Array.of(...head, 0xdd, 0xff, 0xff, 0xff, 0xff));
  });

  it('refuse a manifest that would exceed the cap at the sender', () => {
    const entries: Entry[] = Array.from({ length: 100_000 }, (_, i) => ({ type: 'dir', path: ['d'.repeat(200), String(i)], mode: 0o755 }));
    assert.throws(() => encodeControl({ t: 'manifest', id: 1, entries }), (error) => isNetcryptError(error, ErrorCode.INVALID_ARGUMENT));
  });
});
