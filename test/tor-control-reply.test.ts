import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { NetcryptError } from '../src/errors.ts';
import { type ControlReply, ControlReplyParser, parseReplyArguments } from '../src/tor/control-reply.ts';

const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');

function parseAll(text: string | Buffer, parser = new ControlReplyParser()): ControlReply[] {
  return parser.push(typeof text === 'string' ? bytes(text) : text);
}

function throwsMalformed(fn: () => unknown, reason: RegExp): void {
  assert.throws(fn, (error) => {
    assert.ok(error instanceof NetcryptError);
    assert.equal(error.code, 'ERR_TOR_CONTROL');
    assert.match(error.message, reason);
    return true;
  });
}

describe('ControlReplyParser', () => {
  test('a single-line reply', () => {
    assert.deepEqual(parseAll('250 OK\r\n'), [{ status: 250, lines: [{ text: 'OK' }] }]);
  });

  test('mid lines and an end line, as PROTOCOLINFO sends them', () => {
    const reply =
      '250-PROTOCOLINFO 1\r\n250-AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="/var/lib/tor/control_auth_cookie"\r\n250-VERSION Tor="0.4.9.11"\r\n250 OK\r\n';
    assert.deepEqual(parseAll(reply), [
      {
        status: 250,
        lines: [
          { text: 'PROTOCOLINFO 1' },
          { text: 'AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="/var/lib/tor/control_auth_cookie"' },
          { text: 'VERSION Tor="0.4.9.11"' },
          { text: 'OK' },
        ],
      },
    ]);
  });

  test('a data reply ends at a lone "." and is dot-unstuffed', () => {
    const reply = '250+config-text=\r\nSocksPort 0\r\n..leading dot\r\n...\r\n\r\nlast\r\n.\r\n250 OK\r\n';
    assert.deepEqual(parseAll(reply), [
      { status: 250, lines: [{ text: 'config-text=', data: 'SocksPort 0\n.leading dot\n..\n\nlast' }, { text: 'OK' }] },
    ]);
  });

  test('an empty data block', () => {
    assert.deepEqual(parseAll('250+onions/current=\r\n.\r\n250 OK\r\n'), [
      { status: 250, lines: [{ text: 'onions/current=', data: '' }, { text: 'OK' }] },
    ]);
  });

  test('byte-by-byte input gives the same replies as one chunk, and several replies may share a chunk', () => {
    const stream = '250+x=\r\na\r\n.\r\n250 OK\r\n515 Authentication failed: wrong\r\n650 CIRC 1 LAUNCHED\r\n';
    const parser = new ControlReplyParser();
    const replies = [...bytes(stream)].flatMap((byte) => parser.push(Uint8Array.of(byte)));
    assert.deepEqual(replies, parseAll(stream));
    assert.deepEqual(replies.map((r) => r.status), [250, 515, 650]);
  });

  test('midReply tells whether a reply is cut short', () => {
    const parser = new ControlReplyParser();
    assert.equal(parser.midReply, false);
    parser.push(bytes('250-first\r\n'));
    assert.equal(parser.midReply, true);
    parser.push(bytes('250 OK\r\n'));
    assert.equal(parser.midReply, false);
    parser.push(bytes('25'));
    assert.equal(parser.midReply, true);
  });

  test('malformed lines are ERR_TOR_CONTROL', () => {
    throwsMalformed(() => parseAll('25 OK\r\n'), /three-digit status code/);
    throwsMalformed(() => parseAll('2x0 OK\r\n'), /three-digit status code/);
    throwsMalformed(() => parseAll('250\r\n'), /three-digit status code/);
    throwsMalformed(() => parseAll('250*OK\r\n'), /neither "-", "\+" nor a space/);
    throwsMalformed(() => parseAll('250-a\r\n251 b\r\n'), /status code changed from 250 to 251/);
    throwsMalformed(() => parseAll('250 OK\n250 OK\r\n'), /bare LF/);
  });

  test('reply text that is not UTF-8 is refused, not rewritten', () => {
    throwsMalformed(() => parseAll(Buffer.from([...bytes('250 a'), 0xff, 0x0d, 0x0a])), /not valid UTF-8/);
    throwsMalformed(() => parseAll(Buffer.from([...bytes('250 '), 0xc1, 0xb8, 0x0d, 0x0a])), /not valid UTF-8/);
    throwsMalformed(() => parseAll(Buffer.from([...bytes('250+x\r\n'), 0xed, 0xa0, 0x80, ...bytes('\r\n.\r\n250 OK\r\n')])), /not valid UTF-8/);
    assert.deepEqual(parseAll('250 \u00e9\u{1F510}\r\n'), [{ status: 250, lines: [{ text: '\u00e9\u{1F510}' }] }]);
  });

  test('after a failure the parser refuses all further input', () => {
    const parser = new ControlReplyParser();
    throwsMalformed(() => parser.push(bytes('oops\r\n')), /status code/);
    throwsMalformed(() => parser.push(bytes('250 OK\r\n')), /status code/);
  });

  test('a line over maxLineBytes fails as soon as it is seen, line end or not', () => {
    throwsMalformed(() => parseAll(`250 ${'a'.repeat(29)}\r\n`, new ControlReplyParser({ maxLineBytes: 32 })), /line exceeds 32 bytes/);
    parseAll(`250 ${'a'.repeat(28)}\r\n`, new ControlReplyParser({ maxLineBytes: 32 }));
    const parser = new ControlReplyParser({ maxLineBytes: 32 });
    // 33 bytes may still be a 32-byte line plus its CR; the 34th cannot.
    for (let i = 0; i < 33; i++) parser.push(bytes('a'));
    throwsMalformed(() => parser.push(bytes('a')), /line exceeds 32 bytes/);
  });

  test('a reply over maxReplyBytes fails before it ends', () => {
    const parser = new ControlReplyParser({ maxReplyBytes: 100 });
    const line = bytes('250-0123456789\r\n');
    for (let i = 0; i < 6; i++) parser.push(line);
    throwsMalformed(() => parser.push(line), /reply exceeds 100 bytes/);
    // Data lines count too.
    throwsMalformed(() => parseAll(`250+x=\r\n${'d\r\n'.repeat(40)}`, new ControlReplyParser({ maxReplyBytes: 100 })), /reply exceeds/);
  });
});

describe('parseReplyArguments', () => {
  test('words and KEY=VALUE pairs, quoted values with spaces and escapes', () => {
    const { words, values } = parseReplyArguments('AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="/home/a b/\\"c\\"\\\\d\\303\\251\\n"');
    assert.deepEqual(words, ['AUTH']);
    assert.deepEqual([...values], [
      ['METHODS', 'COOKIE,SAFECOOKIE'],
      ['COOKIEFILE', '/home/a b/"c"\\dé\n'],
    ]);
  });

  test('only the first "=" separates key from value', () => {
    assert.deepEqual([...parseReplyArguments('PrivateKey=ED25519-V3:abc+/d==').values], [['PrivateKey', 'ED25519-V3:abc+/d==']]);
  });

  test('a quoted string is read by code point and decoded as strict UTF-8', () => {
    assert.deepEqual([...parseReplyArguments('COOKIEFILE="/tmp/\u{1F510}\\\u{1F510}"').values], [['COOKIEFILE', '/tmp/\u{1F510}\u{1F510}']]);
    throwsMalformed(() => parseReplyArguments('COOKIEFILE="/tmp/a\\377"'), /not valid UTF-8/); // 61 FF
    throwsMalformed(() => parseReplyArguments('COOKIEFILE="/tmp/\\301\\270"'), /not valid UTF-8/); // overlong "x"
  });

  test('an unterminated quoted string is ERR_TOR_CONTROL', () => {
    throwsMalformed(() => parseReplyArguments('VERSION Tor="0.4'), /not terminated/);
    throwsMalformed(() => parseReplyArguments('VERSION Tor="0.4\\'), /not terminated/);
  });
});

// ---- properties ----

/** Text that can sit on a reply line: anything without CR or LF. */
const lineText = fc.string({ unit: 'grapheme', maxLength: 40 }).map((text) => text.replace(/[\r\n]/g, ''));
const dataLine = fc.oneof(lineText, fc.constantFrom('.', '..', '.x', ''));

const replyArbitrary = fc
  .record({
    status: fc.integer({ min: 0, max: 999 }),
    mid: fc.array(fc.record({ text: lineText, data: fc.option(fc.array(dataLine, { maxLength: 5 }), { nil: undefined }) }), { maxLength: 4 }),
    end: lineText,
  })
  .map(({ status, mid, end }) => {
    const code = String(status).padStart(3, '0');
    let wire = '';
    const lines: ControlReply['lines'] = [];
    for (const { text, data } of mid) {
      if (data === undefined) {
        wire += `${code}-${text}\r\n`;
        lines.push({ text });
      } else {
        wire += `${code}+${text}\r\n${data.map((l) => `${l.startsWith('.') ? '.' : ''}${l}\r\n`).join('')}.\r\n`;
        lines.push({ text, data: data.join('\n') });
      }
    }
    wire += `${code} ${end}\r\n`;
    lines.push({ text: end });
    return { wire: bytes(wire), reply: { status, lines } };
  });

/** Cuts `buffer` at the given fractions of its length. */
function split(buffer: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => Math.floor(c * buffer.length)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const point of [...points, buffer.length]) {
    chunks.push(buffer.subarray(from, point));
    from = point;
  }
  return chunks;
}

const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 });

/** Garbage biased towards the protocol's own punctuation, so it reaches deep into the parser. */
const garbage = fc
  .array(
    fc.oneof(
      fc.constantFrom('250', '650', '515', '-', '+', ' ', '\r\n', '\r', '\n', '.', '\r\n.\r\n', '..', 'OK'),
      fc.uint8Array({ maxLength: 20 }).map((b) => Buffer.from(b).toString('latin1')),
    ),
    { maxLength: 60 },
  )
  .map((parts) => Buffer.from(parts.join(''), 'latin1'));

/** The fewest bytes that could have carried `reply`: data lines re-stuffed only where they must be. */
function wireSize(reply: ControlReply): number {
  let size = 0;
  for (const line of reply.lines) {
    size += 4 + Buffer.byteLength(line.text) + 2;
    // Data of no lines and data of one empty line both read back as '': count the shorter, so this never exceeds the wire.
    if (line.data !== undefined) size += (line.data === '' ? 0 : dataLineSizes(line.data).reduce((sum, n) => sum + n + 2, 0)) + 3;
  }
  return size;
}

function dataLineSizes(data: string): number[] {
  return data.split('\n').map((l) => Buffer.byteLength(l) + (l.startsWith('.') ? 1 : 0));
}

describe('ControlReplyParser properties', () => {
  test('valid replies, split anywhere, come back exactly', () => {
    fc.assert(
      fc.property(fc.array(replyArbitrary, { minLength: 1, maxLength: 4 }), cuts, (replies, at) => {
        const parser = new ControlReplyParser();
        const wire = Buffer.concat(replies.map((r) => r.wire));
        const parsed = split(wire, at).flatMap((chunk) => parser.push(chunk));
        assert.deepEqual(parsed, replies.map((r) => r.reply));
        assert.equal(parser.midReply, false);
      }),
      { numRuns: 500 },
    );
  });

  test('arbitrary input, alone or after valid replies, yields replies or a NetcryptError, nothing else', () => {
    fc.assert(
      fc.property(fc.array(replyArbitrary, { maxLength: 2 }), garbage, cuts, (prefix, junk, at) => {
        const parser = new ControlReplyParser();
        const wire = Buffer.concat([...prefix.map((r) => r.wire), junk]);
        let failure: unknown;
        for (const chunk of split(wire, at)) {
          try {
            for (const reply of parser.push(chunk)) assert.ok(reply.lines.length > 0 && reply.status >= 0 && reply.status <= 999);
          } catch (error) {
            if (!(error instanceof NetcryptError) || error.code !== 'ERR_TOR_CONTROL') throw error;
            if (failure !== undefined) assert.equal(error, failure, 'the same failure every time');
            failure = error;
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('no reply returned ever exceeds the bounds', () => {
    const limits = { maxLineBytes: 24, maxReplyBytes: 96 };
    // ASCII, so that decoding cannot change a line's length in bytes.
    const asciiGarbage = garbage.map((junk) => Buffer.from(junk.map((byte) => byte & 0x7f)));
    fc.assert(
      fc.property(fc.array(fc.oneof(replyArbitrary.map((r) => r.wire), asciiGarbage), { maxLength: 6 }), cuts, (parts, at) => {
        const parser = new ControlReplyParser(limits);
        try {
          for (const chunk of split(Buffer.concat(parts), at)) {
            for (const reply of parser.push(chunk)) {
              for (const line of reply.lines) {
                assert.ok(4 + Buffer.byteLength(line.text) <= limits.maxLineBytes);
                for (const size of line.data === undefined ? [] : dataLineSizes(line.data)) assert.ok(size <= limits.maxLineBytes);
              }
              assert.ok(wireSize(reply) <= limits.maxReplyBytes);
            }
          }
        } catch (error) {
          if (!(error instanceof NetcryptError)) throw error;
        }
      }),
      { numRuns: 1000 },
    );
  });
});
