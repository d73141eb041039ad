/** HKDF-SHA-256 against every Wycheproof case. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isNetcryptError } from '../src/errors.ts';
import { HKDF_SHA256_MAX_LENGTH, hkdfSha256 } from '../src/keys/hkdf.ts';
import { hex, readShared } from './helpers/vectors.ts';

const isInvalidArgument = (error: unknown) => isNetcryptError(error, 'ERR_INVALID_ARGUMENT');

describe('HKDF-SHA-256', () => {
  it('Wycheproof: every case (the invalid ones ask for more than 255 blocks)', () => {
    const file = readShared('hkdf_sha256_test.json');
    let count = 0;
    let invalid = 0;
    for (const group of file.testGroups) {
      for (const t of group.tests) {
        const args = [hex(t.ikm as string), hex(t.salt as string), hex(t.info as string), t.size as number] as const;
        if (t.result === 'valid') {
          assert.deepEqual(hkdfSha256(...args), hex(t.okm as string), `tcId ${t.tcId} ${t.comment}`);
        } else {
          assert.throws(() => hkdfSha256(...args), isInvalidArgument, `tcId ${t.tcId} ${t.comment}`);
          invalid++;
        }
        count++;
      }
    }
    assert.equal(count, file.numberOfTests);
    assert.equal(invalid, 3);
  });

  it('a string info is its UTF-8 bytes', () => {
    const ikm = Buffer.alloc(32, 1);
    const salt = Buffer.alloc(32, 2);
    assert.deepEqual(hkdfSha256(ikm, salt, 'netcrypt/1 ✓', 64), hkdfSha256(ikm, salt, Buffer.from('netcrypt/1 ✓', 'utf8'), 64));
  });

  it('rejects lengths outside 1..8160 and info over node’s 1024-byte limit', () => {
    const ikm = Buffer.alloc(32);
    assert.equal(hkdfSha256(ikm, ikm, ikm, HKDF_SHA256_MAX_LENGTH).length, 8160);
    for (const length of [0, -1, 1.5, Number.NaN, HKDF_SHA256_MAX_LENGTH + 1]) {
      assert.throws(() => hkdfSha256(ikm, ikm, ikm, length), isInvalidArgument, String(length));
    }
    assert.equal(hkdfSha256(ikm, ikm, Buffer.alloc(1024), 32).length, 32);
    assert.throws(() => hkdfSha256(ikm, ikm, Buffer.alloc(1025), 32), isInvalidArgument);
  });
});
