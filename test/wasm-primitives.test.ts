/**
 * The real WebAssembly module's hand-written primitives against references:
 * Wycheproof's AES-CBC-PKCS5 (256-bit keys) and HMAC-SHA-512 files, the
 * bitsliced AES-256-CTR against node:crypto, and GHASH (whose bit reversals
 * run on SIMD) against @noble/ciphers. cargo test runs the same code
 * natively, but there the SIMD layer is emulated, which proves nothing about
 * the wasm. (AES-256-GCM itself runs on every backend in
 * backend-vectors.test.ts and backend-properties.test.ts.)
 */

import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { describe, it } from 'node:test';
import { ghash } from '@noble/ciphers/_polyval.js';
import fc from 'fast-check';
import { WasmCore } from '../src/backend/wasm.ts';
import { NetcryptError } from '../src/errors.ts';
import { hex, readShared } from './helpers/vectors.ts';

describe('wasm primitives', async () => {
  const core = await WasmCore.load();

  it('AES-256-CBC-PKCS5: every 256-bit case', () => {
    let count = 0;
    for (const group of readShared('aes_cbc_pkcs5_test.json').testGroups.filter((g) => g.keySize === 256)) {
      for (const t of group.tests) {
        const key = hex(t.key as string);
        const iv = hex(t.iv as string);
        const ct = hex(t.ct as string);
        if (t.result === 'valid') {
          assert.deepEqual(Buffer.from(core.aes256CbcEncrypt(key, iv, hex(t.msg as string))), ct, `tcId ${t.tcId}`);
          assert.deepEqual(Buffer.from(core.aes256CbcDecrypt(key, iv, ct) ?? []), hex(t.msg as string), `tcId ${t.tcId}`);
        } else {
          assert.equal(core.aes256CbcDecrypt(key, iv, ct), null, `tcId ${t.tcId} ${t.comment}`);
        }
        count++;
      }
    }
    assert.equal(count, 72);
  });

  it('HMAC-SHA-512: every case, tags truncated as each group says', () => {
    const file = readShared('hmac_sha512_test.json');
    let count = 0;
    for (const group of file.testGroups) {
      const tagBytes = (group.tagSize ?? 512) / 8;
      for (const t of group.tests) {
        const mac = Buffer.from(core.hmacSha512(hex(t.key as string), hex(t.msg as string))).subarray(0, tagBytes);
        assert.equal(mac.equals(hex(t.tag as string)), t.result === 'valid', `tcId ${t.tcId} ${t.comment}`);
        count++;
      }
    }
    assert.equal(count, file.numberOfTests);
  });

  it('AES-256-CTR (32-bit counter) equals node:crypto aes-256-ctr at lengths around block and batch edges', () => {
    const nodeCtr = (key: Uint8Array, counter: Uint8Array, data: Uint8Array) => createCipheriv('aes-256-ctr', key, counter).update(data);
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        fc.integer({ min: 0, max: 0x7fffffff }),
        fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 70_000 }), fc.integer({ min: 1, max: 512 }).map((b) => b * 128 - 1)),
        (key, prefix, start, length) => {
          const counter = Buffer.concat([prefix, Buffer.from([start >>> 24, start >>> 16, start >>> 8, start])]);
          const data = Buffer.alloc(length, length & 0xff);
          const { output, counter: next } = core.aes256Ctr32(key, counter, data);
          assert.ok(Buffer.from(output).equals(nodeCtr(key, counter, data)));
          assert.equal(Buffer.from(next).readUInt32BE(12), start + Math.ceil(length / 16));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('AES-256-CTR: the counter wraps within its last 32 bits', () => {
    const key = Buffer.alloc(32, 3);
    const prefix = Buffer.alloc(12, 0xee);
    const counter = Buffer.concat([prefix, Buffer.from('fffffffe', 'hex')]);
    const data = Buffer.alloc(16 * 20 + 5, 0x5c);
    const expected = Buffer.concat([
      createCipheriv('aes-256-ctr', key, counter).update(data.subarray(0, 32)),
      createCipheriv('aes-256-ctr', key, Buffer.concat([prefix, Buffer.alloc(4)])).update(data.subarray(32)),
    ]);
    const { output, counter: next } = core.aes256Ctr32(key, counter, data);
    assert.ok(Buffer.from(output).equals(expected));
    assert.deepEqual(Buffer.from(next), Buffer.concat([prefix, Buffer.from('00000013', 'hex')]));
  });

  it('GHASH equals @noble/ciphers ghash at every length to 600 bytes and at random lengths to 70 000', () => {
    const h = Buffer.from('66e94bd4ef8a2c3b884cfa59ca342b2e', 'hex');
    const data = Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 151 + 7) & 0xff));
    for (let length = 0; length <= 600; length++) {
      const message = data.subarray(0, length);
      assert.ok(Buffer.from(core.ghash(h, message)).equals(ghash(message, h)), `length ${length}`);
    }
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ maxLength: 70_000 }), (key, message) => {
        assert.ok(Buffer.from(core.ghash(key, message)).equals(ghash(message, key)));
      }),
      { numRuns: 100 },
    );
  });

  it('fails to load from a missing file with ERR_BACKEND_UNAVAILABLE', async () => {
    await assert.rejects(WasmCore.load(new URL('file:///nonexistent/netcrypt.wasm')), (error: unknown) => {
      return error instanceof NetcryptError && error.code === 'ERR_BACKEND_UNAVAILABLE';
    });
  });

  it('fails to load a module that is not WebAssembly with ERR_BACKEND_UNAVAILABLE', async () => {
    await assert.rejects(WasmCore.load(new URL('../package.json', import.meta.url)), { code: 'ERR_BACKEND_UNAVAILABLE' });
  });
});
