/**
 * Wycheproof's AES-CBC-PKCS5 (256-bit keys) and HMAC-SHA-512 files against
 * the real WebAssembly module's hand-written primitives (cargo test runs the
 * same files natively, where the SIMD layer is emulated).
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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

  it('fails to load from a missing file with ERR_BACKEND_UNAVAILABLE', async () => {
    await assert.rejects(WasmCore.load(new URL('file:///nonexistent/netcrypt.wasm')), (error: unknown) => {
      return error instanceof NetcryptError && error.code === 'ERR_BACKEND_UNAVAILABLE';
    });
  });

  it('fails to load a module that is not WebAssembly with ERR_BACKEND_UNAVAILABLE', async () => {
    await assert.rejects(WasmCore.load(new URL('../package.json', import.meta.url)), { code: 'ERR_BACKEND_UNAVAILABLE' });
  });
});
