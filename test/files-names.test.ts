/** Name validation and the control-message schema, without sockets. */

import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { describe, it } from 'node:test';
import { encode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { ErrorCode, isNetcryptError } from '../src/errors.ts';
import { type ControlMessage, decodeControl, encodeControl } from '../src/files/file-messages.ts';
import { MAX_DEPTH, checkName, checkRelativePath, confinedPath, displayName, partialName } from '../src/files/file-names.ts';
import { BAD_NAMES } from './helpers/files-names.ts';
import { hasCode } from './helpers/files-net.ts';

const GOOD_NAMES = [
  'report.pdf',
  'with spaces.txt',
  '.hidden',
  '..double-dot-prefix',
  'résumé.docx',
  '日本語のファイル.txt',
  '📁 photos 🎉.jpg',
  'CONSOLE.txt',
  'COM10',
  'LPT0',
  'x'.repeat(255),
  'é'.repeat(127),
  "semi;colon & 'quotes' (1) [2] {3}",
  '\u2764\uFE0F love.txt',
  '\u{1F469}\u{1F3FD}\u200D\u{1F4BB} work.txt',
  '\u{1F468}\u200D\u{1F469}\u200D\u{1F467} family.jpg',
];

/** Every default-ignorable code point (outside the surrogates), found once by the same Unicode property the checker uses. */
const DEFAULT_IGNORABLE: number[] = [];
for (let code = 0; code <= 0x10ffff; code++) {
  if ((code < 0xd800 || code > 0xdfff) && /\p{Default_Ignorable_Code_Point}/u.test(String.fromCodePoint(code))) DEFAULT_IGNORABLE.push(code);
}
/** Characters whose NFKC form is '.', '/', '\\' or ':', found the same way. */
const FOLDING: string[] = [];
for (let code = 0x80; code <= 0x10ffff; code++) {
  if (code >= 0xd800 && code <= 0xdfff) continue;
  const c = String.fromCodePoint(code);
  if (['.', '/', '\\', ':', '..'].includes(c.normalize('NFKC'))) FOLDING.push(c);
}

describe('checkName', () => {
  for (const name of BAD_NAMES) {
    it(`refuses ${displayName(name)}`, () => assert.throws(() => checkName(name), hasCode(ErrorCode.BAD_FILENAME)));
  }
  for (const name of GOOD_NAMES) {
    it(`accepts ${displayName(name.slice(0, 40))}`, () => assert.equal(checkName(name), name));
  }

  it('only accepts names that stay a direct child of the folder (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (name) => {
        let ok = true;
        try {
          checkName(name);
        } catch {
          ok = false;
        }
        if (!ok) return;
        assert.ok(!/[/\\:\0]/.test(name));
        assert.equal(dirname(confinedPath('/srv/in', [name])), '/srv/in');
      }),
      { numRuns: 2000 },
    );
  });
});

describe('invisible and look-alike names', () => {
  it('refuses any default-ignorable code point between visible letters (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...DEFAULT_IGNORABLE), fc.stringMatching(/^[a-z]{1,8}$/), fc.stringMatching(/^[a-z]{1,8}$/), (code, before, after) => {
        assert.throws(() => checkName(`${before}${String.fromCodePoint(code)}${after}`), hasCode(ErrorCode.BAD_FILENAME));
      }),
      { numRuns: 1000 },
    );
    assert.ok(DEFAULT_IGNORABLE.includes(0x200b) && DEFAULT_IGNORABLE.includes(0xe0041) && DEFAULT_IGNORABLE.includes(0xfeff));
  });

  it('refuses every name whose NFKC form is ".", ".." or holds a separator (property)', () => {
    assert.ok(FOLDING.includes('\uFF0E') && FOLDING.includes('\uFF0F'));
    fc.assert(
      fc.property(fc.constantFrom(...FOLDING), fc.constantFrom(...FOLDING), fc.stringMatching(/^[a-z]{0,4}$/), (one, two, rest) => {
        const folded = (one + two).normalize('NFKC');
        if (folded === '..' || /[/\\:]/.test(folded)) assert.throws(() => checkName(one + two), hasCode(ErrorCode.BAD_FILENAME));
        if (/[/\\:]/.test(one.normalize('NFKC'))) assert.throws(() => checkName(`${rest}${one}${rest}`), hasCode(ErrorCode.BAD_FILENAME));
        if (one.normalize('NFKC') === '.') assert.throws(() => checkName(one), hasCode(ErrorCode.BAD_FILENAME));
      }),
      { numRuns: 1000 },
    );
  });

  it('an accepted name is visible: no default-ignorable character outside an emoji sequence, no separator after NFKC (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 12 }), (name) => {
        let ok = true;
        try {
          checkName(name);
        } catch {
          ok = false;
        }
        if (!ok) return;
        assert.ok(!/[\p{Zl}\p{Zp}\u200B\u2060\uFEFF\u{E0000}-\u{E0FFF}]/u.test(name));
        assert.ok(!/^\.\.?$|[/\\:]/.test(name.normalize('NFKC')));
      }),
      { numRuns: 2000 },
    );
  });

  it('displayName shows invisible characters as escapes', () => {
    assert.equal(displayName('a\u200Bb\u{E0041}'), '"a\\u200bb\\u{e0041}"');
  });
});

describe('checkRelativePath', () => {
  it('joins checked components with /', () => assert.equal(checkRelativePath(['a', 'b c', 'd.txt']), 'a/b c/d.txt'));
  it('refuses an empty path, a bad component, and too deep a tree', () => {
    assert.throws(() => checkRelativePath([]), hasCode(ErrorCode.BAD_FILENAME));
    assert.throws(() => checkRelativePath(['a', '..', 'b']), hasCode(ErrorCode.BAD_FILENAME));
    assert.throws(() => checkRelativePath(Array(MAX_DEPTH + 1).fill('d')), hasCode(ErrorCode.BAD_FILENAME));
    assert.throws(() => checkRelativePath(Array(20).fill('x'.repeat(250))), hasCode(ErrorCode.BAD_FILENAME));
  });
});

describe('confinedPath and partialName', () => {
  it('confinedPath refuses what would leave the folder', () => {
    assert.throws(() => confinedPath('/srv/in', ['..', 'x']), hasCode(ErrorCode.BAD_FILENAME));
    assert.throws(() => confinedPath('/srv/in', ['.']), hasCode(ErrorCode.BAD_FILENAME));
    assert.equal(confinedPath('/', ['a']), '/a');
  });
  it('partial names are hidden, fixed by the name, peer, size and mtime, and never too long', () => {
    const owner = { peer: 'SHA256:abc', size: 10, mtime: 1_700_000_000_000 };
    assert.match(partialName('a.txt', owner), /^\.a\.txt\.[0-9a-f]{32}\.netcrypt-partial$/);
    assert.equal(partialName('a.txt', owner), partialName('a.txt', { ...owner }));
    for (const other of [{ ...owner, peer: 'SHA256:abd' }, { ...owner, size: 11 }, { ...owner, mtime: 1_700_000_000_001 }]) {
      assert.notEqual(partialName('a.txt', other), partialName('a.txt', owner));
    }
    const long = partialName('x'.repeat(255), owner);
    assert.equal(long, partialName('x'.repeat(255), owner));
    assert.match(long, /^\.[0-9a-f]{32}\.[0-9a-f]{32}\.netcrypt-partial$/);
    assert.ok(Buffer.byteLength(partialName('é'.repeat(127), owner)) <= 255);
  });
  it('displayName escapes characters that reorder or hide text', () => {
    assert.equal(displayName('a\u202Eb\nc'), '"a\\u202eb\\nc"');
  });
});

describe('control messages', () => {
  const digest = new Uint8Array(32).fill(7);
  const samples: ControlMessage[] = [
    {
      t: 'manifest',
      id: 1,
      entries: [
        { type: 'dir', path: ['d'], mode: 0o755 },
        { type: 'file', path: ['d', 'f'], size: 5, mode: 0o644, mtime: 1700000000123 },
      ],
    },
    { t: 'start', id: 2, index: 1, offset: 0 },
    { t: 'end', id: 2, index: 1, sha256: digest },
    { t: 'send-failed', id: 3, code: ErrorCode.FILE_CHANGED, message: 'changed' },
    { t: 'want', id: 2, index: 1, offset: 10, nonce: new Uint8Array(32).fill(9), prefix: digest, credit: 4096 },
    { t: 'credit', id: 2, bytes: 100 },
    { t: 'done', id: 2 },
    { t: 'receive-failed', id: 2, code: ErrorCode.FILE_EXISTS, message: 'exists' },
  ];
  for (const message of samples) {
    it(`round-trips ${message.t}`, () => assert.deepEqual(decodeControl(encodeControl(message)), message));
  }

  const bad: [string, unknown][] = [
    ['an unknown type', { t: 'exec', id: 1 }],
    ['an extra field', { t: 'done', id: 1, extra: true }],
    ['a missing field', { t: 'credit', id: 1 }],
    ['id 0', { t: 'done', id: 0 }],
    ['a negative size', { t: 'manifest', id: 1, entries: [{ type: 'file', path: ['a'], size: -1, mode: 0, mtime: 0 }] }],
    ['a fractional offset', { t: 'start', id: 1, index: 0, offset: 1.5 }],
    ['a short digest', { t: 'end', id: 1, index: 0, sha256: Buffer.alloc(31) }],
    ['a path that is not strings', { t: 'manifest', id: 1, entries: [{ type: 'file', path: [1], size: 0, mode: 0, mtime: 0 }] }],
    ['a path given as a string', { t: 'manifest', id: 1, entries: [{ type: 'file', path: 'a', size: 0, mode: 0, mtime: 0 }] }],
    ['an unknown entry type', { t: 'manifest', id: 1, entries: [{ type: 'link', path: ['a'], mode: 0 }] }],
    ['a mode above 0o7777', { t: 'manifest', id: 1, entries: [{ type: 'dir', path: ['a'], mode: 0o10000 }] }],
    ['a fractional mtime', { t: 'manifest', id: 1, entries: [{ type: 'file', path: ['a'], size: 0, mode: 0, mtime: 1.5 }] }],
    ['an absurd mtime', { t: 'manifest', id: 1, entries: [{ type: 'file', path: ['a'], size: 0, mode: 0, mtime: 1e300 }] }],
    ['an unknown error code', { t: 'receive-failed', id: 1, code: 'ERR_NOPE', message: '' }],
    ['zero credit', { t: 'credit', id: 1, bytes: 0 }],
    ['a non-map', [1, 2, 3]],
  ];
  for (const [what, value] of bad) {
    it(`refuses ${what}`, () => assert.throws(() => decodeControl(encode(value)), hasCode(ErrorCode.PROTOCOL)));
  }
  it('refuses trailing bytes and garbage', () => {
    assert.throws(() => decodeControl(Buffer.concat([encode({ t: 'done', id: 1 }), Buffer.from([0])])), hasCode(ErrorCode.PROTOCOL));
    assert.throws(() => decodeControl(Buffer.from([0xc1])), hasCode(ErrorCode.PROTOCOL));
  });
  it('refuses control and bidi characters in a peer’s failure message, and never sends them', () => {
    assert.throws(
      () => decodeControl(encode({ t: 'send-failed', id: 1, code: ErrorCode.FILE_IO, message: 'a\u001b[31mb\u202Ec' })),
      (error) => isNetcryptError(error, ErrorCode.PROTOCOL),
    );
    const sent = decodeControl(encodeControl({ t: 'send-failed', id: 1, code: ErrorCode.FILE_IO, message: 'a\u001b[31mb\u202Ec' }));
    assert.equal(sent.t === 'send-failed' && sent.message, 'a?[31mb?c');
  });
});
