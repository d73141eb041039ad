/** The lane-3 codec (docs/PROTOCOL.md §3.1): every message round-trips, and any other bytes are ERR_PROTOCOL and nothing else. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ErrorCode, isNetcryptError } from '../src/errors.ts';
import {
  MAX_REMOTE_MESSAGE_BYTES,
  MAX_REQUEST_BODY_BYTES,
  MAX_REQUEST_ID,
  type RequestMessage,
  decodeRequestMessage,
  encodeCancel,
  encodeError,
  encodeReply,
  encodeRequest,
  remoteMessage,
} from '../src/wire/request-messages.ts';

const isProtocolError = (error: unknown) => isNetcryptError(error, ErrorCode.PROTOCOL);
const refused = (bytes: Buffer) => assert.throws(() => decodeRequestMessage(bytes), isProtocolError);

const id = fc.integer({ min: 1, max: MAX_REQUEST_ID });
const body = fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes));
const code = fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/);
const text = fc.string({ unit: 'grapheme', maxLength: 60 }).filter((s) => !/[\p{Cc}\p{Bidi_Control}]/u.test(s));

const message: fc.Arbitrary<RequestMessage> = fc.oneof(
  fc.record({ kind: fc.constant('request' as const), id, body }),
  fc.record({ kind: fc.constant('reply' as const), id, body }),
  fc.record({ kind: fc.constant('error' as const), id, code, message: text }),
  fc.record({ kind: fc.constant('cancel' as const), id }),
);

function encode(m: RequestMessage): Buffer {
  switch (m.kind) {
    case 'request':
      return encodeRequest(m.id, m.body);
    case 'reply':
      return encodeReply(m.id, m.body);
    case 'error':
      return encodeError(m.id, m.code, m.message);
    case 'cancel':
      return encodeCancel(m.id);
  }
}

describe('request messages', () => {
  it('round-trip, byte for byte', () => {
    fc.assert(
      fc.property(message, (m) => {
        const bytes = encode(m);
        assert.deepEqual(decodeRequestMessage(bytes), { ...m });
        assert.deepEqual(encode(decodeRequestMessage(bytes)), bytes);
      }),
      { numRuns: 2000 },
    );
  });

  it('arbitrary bytes decode or are ERR_PROTOCOL, never anything else; what decodes re-encodes to the same bytes', () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      // Near-valid: a real message with one byte changed, cut, or extended.
      fc.tuple(message, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 2 })).map(([m, at, value, how]) => {
        const real = Buffer.from(encode(m));
        if (how === 0 && real.length > 0) real[at % real.length] = value;
        if (how === 1) return real.subarray(0, at % (real.length + 1));
        if (how === 2) return Buffer.concat([real, Buffer.from([value])]);
        return real;
      }),
    );
    fc.assert(
      fc.property(bytes, (raw) => {
        const input = Buffer.from(raw);
        let decoded: RequestMessage;
        try {
          decoded = decodeRequestMessage(input);
        } catch (error) {
          assert.ok(isProtocolError(error), String(error));
          return;
        }
        assert.deepEqual(encode(decoded), input, 'one encoding per message');
      }),
      { numRuns: 5000 },
    );
  });

  it("the examples in PROTOCOL.md §3.1 are this codec's bytes", async () => {
    const { readFile } = await import('node:fs/promises');
    const spec = (await readFile(new URL('../docs/PROTOCOL.md', import.meta.url), 'utf8')).replace(/[ \n]+/g, ' ');
    const spaced = (bytes: Buffer, fields: number[]) => {
      const parts: string[] = [];
      let at = 0;
      for (const length of [...fields, bytes.length]) {
        if (at >= bytes.length) break;
        parts.push(bytes.subarray(at, Math.min(at + length, bytes.length)).toString('hex'));
        at += length;
      }
      return parts.join(' ');
    };
    for (const [bytes, fields] of [
      [encodeRequest(1, Buffer.from('hi')), [1, 8]],
      [encodeReply(1, Buffer.alloc(0)), [1, 8]],
      [encodeError(2, 'ENOENT', 'no such file'), [1, 8, 1, 6, 2]],
      [encodeCancel(3), [1, 8]],
    ] as const) {
      const hex = spaced(bytes, [...fields]);
      assert.ok(spec.includes(` ${hex} `) || spec.endsWith(` ${hex}`), `PROTOCOL.md shows ${hex}`);
    }
  });

  it('the layout is the one §3.1 gives', () => {
    assert.equal(encodeRequest(1, Buffer.from('hi')).toString('hex'), '0100000000000000016869');
    assert.equal(encodeReply(0x0102030405, Buffer.alloc(0)).toString('hex'), '020000000102030405');
    assert.equal(encodeCancel(MAX_REQUEST_ID).toString('hex'), '04001fffffffffffff');
    assert.equal(encodeError(2, 'ENOENT', 'no ✓').toString('hex'), '030000000000000002' + '06' + Buffer.from('ENOENT').toString('hex') + '0006' + Buffer.from('no ✓').toString('hex'));
  });

  it('refuses each malformed form with ERR_PROTOCOL', () => {
    const error = (codeBytes: Buffer, messageBytes: Buffer, messageLength = messageBytes.length) =>
      Buffer.concat([Buffer.from('030000000000000001', 'hex'), Buffer.from([codeBytes.length]), codeBytes, Buffer.from([messageLength >> 8, messageLength & 0xff]), messageBytes]);
    refused(Buffer.alloc(0));
    refused(Buffer.from('0100000000000000', 'hex')); // 8 bytes: a header cut short
    refused(Buffer.from('000000000000000001', 'hex')); // kind 0
    refused(Buffer.from('050000000000000001', 'hex')); // kind 5
    refused(Buffer.from('010000000000000000', 'hex')); // id 0
    refused(Buffer.from('0100200000000000000', 'hex')); // id 2^53
    refused(Buffer.from('040000000000000001ff', 'hex')); // CANCEL with content
    refused(Buffer.from('030000000000000001', 'hex')); // ERROR without code
    refused(error(Buffer.alloc(0), Buffer.alloc(0))); // empty code
    refused(error(Buffer.from('E'.repeat(65)), Buffer.alloc(0))); // code too long
    refused(error(Buffer.from('E E'), Buffer.alloc(0))); // a space in the code
    refused(error(Buffer.from('É', 'latin1'), Buffer.alloc(0))); // a byte above 0x7f
    refused(error(Buffer.from('E'), Buffer.from('x'), 2)); // message shorter than its length
    refused(error(Buffer.from('E'), Buffer.from('xy'), 1)); // trailing bytes
    refused(error(Buffer.from('E'), Buffer.alloc(MAX_REMOTE_MESSAGE_BYTES + 1, 0x61))); // message too long
    refused(error(Buffer.from('E'), Buffer.from([0xc3, 0x28]))); // not UTF-8
    refused(error(Buffer.from('E'), Buffer.from([0xed, 0xa0, 0x80]))); // a surrogate, as CESU-8 writes it
    refused(error(Buffer.from('E'), Buffer.from('a\nb'))); // a control character
    refused(error(Buffer.from('E'), Buffer.from('\u202e'))); // a bidirectional override
    refused(Buffer.alloc(9 + MAX_REQUEST_BODY_BYTES + 1, 1)); // longer than the lane allows
    // A leading BOM is a character like any other: kept, not stripped.
    assert.deepEqual(decodeRequestMessage(error(Buffer.from('E'), Buffer.from('\ufeffx'))), { kind: 'error', id: 1, code: 'E', message: '\ufeffx' });
  });

  it('the sender makes a message safe: misleading characters as ?, cut at 1 024 bytes on a character boundary', () => {
    assert.equal(remoteMessage('a\r\nb\u0000c\u200fd\u009b'), 'a??b?c?d?');
    assert.equal(remoteMessage('\ud800x'), '\ufffdx');
    const cut = remoteMessage('€'.repeat(400));
    assert.equal(cut, '€'.repeat(341));
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 1500 }), (s) => {
        const safe = remoteMessage(s);
        assert.ok(Buffer.byteLength(safe) <= MAX_REMOTE_MESSAGE_BYTES);
        assert.deepEqual(decodeRequestMessage(encodeError(1, 'E', s)), { kind: 'error', id: 1, code: 'E', message: safe });
      }),
    );
  });

  it('encoders refuse what cannot be sent', () => {
    assert.throws(() => encodeRequest(0, Buffer.alloc(0)), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => encodeRequest(MAX_REQUEST_ID + 1, Buffer.alloc(0)), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => encodeReply(1, Buffer.alloc(MAX_REQUEST_BODY_BYTES + 1)), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => encodeError(1, 'has space', ''), { code: 'ERR_INVALID_ARGUMENT' });
  });
});
